import { TallyError, isTallyError } from '../../core/errors.js';

/**
 * A PostgreSQL (or driver) failure as TALLY_STORE_FAILURE with its cause: a refused
 * connection, a constraint, a serialization failure alike are retryable store failures. The
 * SQLSTATE (`pgCode`) or the socket error (`errno`, e.g. ECONNREFUSED) goes into the details so
 * that readiness can say why.
 */
export function storeFailure(what: string, cause: unknown): TallyError {
  if (isTallyError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as { code?: unknown } | null)?.code;
  return new TallyError('TALLY_STORE_FAILURE', `postgres store: ${what} failed: ${reason}`, {
    cause,
    ...(typeof code === 'string' ? { details: { pgCode: code } } : {}),
  });
}
