import { TallyError, isTallyError } from '../../core/errors.js';

/** Runs `fn`, turning any SQLite (or driver) failure into TALLY_STORE_FAILURE with its cause. */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw storeFailure(what, e);
  }
}

export function storeFailure(what: string, cause: unknown): TallyError {
  if (isTallyError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const sqliteCode = (cause as { code?: unknown } | null)?.code;
  return new TallyError('TALLY_STORE_FAILURE', `sqlite store: ${what} failed: ${reason}`, {
    cause,
    ...(typeof sqliteCode === 'string' ? { details: { sqliteCode } } : {}),
  });
}
