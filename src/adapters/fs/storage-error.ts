import { TallyError, isTallyError, type ErrorCode } from '../../core/errors.js';

/** errno codes that mean "no room": the disk or the quota is full */
const FULL_ERRNO: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/** The catalogue code of a failed write: full (507) or another I/O failure (503). */
export function storageCode(cause: unknown): ErrorCode {
  const errno = (cause as { code?: unknown } | null)?.code;
  return typeof errno === 'string' && FULL_ERRNO.has(errno)
    ? 'TALLY_STORAGE_FULL'
    : 'TALLY_STORAGE_FAILED';
}

/**
 * A failed write to the data dir as the catalogue's storage error: `what` failed at `path`,
 * with the errno in details. A storage error is an expected state (a full disk, a failing
 * device), not an internal error: it is retryable, and the writer repairs itself once the
 * disk takes writes again.
 */
export function storageError(what: string, path: string, cause: unknown): TallyError {
  if (isTallyError(cause)) return cause;
  const errno = (cause as { code?: unknown } | null)?.code;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const code = storageCode(cause);
  return new TallyError(
    code,
    code === 'TALLY_STORAGE_FULL'
      ? `${what}: the disk is full at ${path} (${reason}); nothing was acknowledged, retry once space is freed`
      : `${what}: writing ${path} failed (${reason}); nothing was acknowledged, retry later`,
    {
      cause,
      details: { path, ...(typeof errno === 'string' ? { errno } : {}) },
    },
  );
}
