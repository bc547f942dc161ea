import { TallyError, isTallyError, type ErrorCode } from '../../core/errors.js';

/** Runs `fn`, turning any SQLite (or driver) failure into TALLY_STORE_FAILURE with its cause. */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw storeFailure(what, e);
  }
}

/**
 * The catalogue's code for a SQLite failure: a full disk (SQLITE_FULL) and an I/O error
 * (SQLITE_IOERR_…) are storage states like the log's; anything else (SQLITE_BUSY past the
 * busy timeout, a locked or read-only database, a constraint) is a store failure. All retryable.
 */
function codeFor(sqliteCode: unknown): ErrorCode {
  // the system's codes: the snapshot pieces' files (piece-files.ts)
  if (sqliteCode === 'SQLITE_FULL' || sqliteCode === 'ENOSPC' || sqliteCode === 'EDQUOT')
    return 'TALLY_STORAGE_FULL';
  if (sqliteCode === 'EIO') return 'TALLY_STORAGE_FAILED';
  if (typeof sqliteCode === 'string' && sqliteCode.startsWith('SQLITE_IOERR')) {
    return 'TALLY_STORAGE_FAILED';
  }
  return 'TALLY_STORE_FAILURE';
}

export function storeFailure(what: string, cause: unknown): TallyError {
  if (isTallyError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const sqliteCode = (cause as { code?: unknown } | null)?.code;
  return new TallyError(codeFor(sqliteCode), `sqlite store: ${what} failed: ${reason}`, {
    cause,
    ...(typeof sqliteCode === 'string' ? { details: { sqliteCode } } : {}),
  });
}
