import type { RetryDelayGetter } from '@platformatic/kafka';

/**
 * Retry delays by error: the broker answers CONCURRENT_TRANSACTIONS to the next transaction's
 * first request while it still writes the previous one's markers, and UNSTABLE_OFFSET_COMMIT
 * while transactional offsets are pending; both clear within milliseconds, and the client's
 * default of a second per retry would cost a second per transaction. Anything else
 * (coordinator moves, broker restarts) backs off up to a second.
 */
export const transactionalRetryDelay: RetryDelayGetter = (_c, _op, attempt, _r, error) => {
  const e = error as { findBy?: (k: string, v: unknown) => unknown };
  const quick =
    e.findBy?.('apiId', 'CONCURRENT_TRANSACTIONS') ?? e.findBy?.('apiId', 'UNSTABLE_OFFSET_COMMIT');
  if (quick) return Math.min(5 * 2 ** Math.min(attempt, 4), 50);
  return Math.min(100 * 2 ** Math.min(attempt, 4), 1000);
};

/** The Kafka error ids (e.g. ILLEGAL_GENERATION) anywhere in a client error's chain. */
export function kafkaErrorIds(e: unknown, depth = 0): string[] {
  if (e === null || typeof e !== 'object' || depth > 6) return [];
  const o = e as { apiId?: unknown; errors?: unknown[]; cause?: unknown };
  const ids = typeof o.apiId === 'string' ? [o.apiId] : [];
  for (const inner of o.errors ?? []) ids.push(...kafkaErrorIds(inner, depth + 1));
  ids.push(...kafkaErrorIds(o.cause, depth + 1));
  return ids;
}

/** close(true) (pending requests too) as a promise that never rejects: shutdown paths. */
export function forceCloseQuietly(client: {
  close(force: boolean, callback: (error?: Error | null) => void): void;
}): Promise<void> {
  return new Promise((resolve) => client.close(true, () => resolve()));
}
