import { createReadStream } from 'node:fs';
import { EncodePool } from '../services/ingest/encode-pool.js';
import {
  StreamIngestError,
  ingestNdjsonStream,
  type StreamIngestTotals,
} from '../services/ingest/file-ingest.js';
import { TallyError, isTallyError } from '../core/errors.js';
import type { AppContext } from './context.js';
import { openIngestTarget } from './ingest-target.js';

/** read size: each chunk of whole lines (~8k records) becomes one append */
const CHUNK_BYTES = 1 << 20;

export interface FileIngestOptions {
  /** worker threads that encode beside the main thread (0: all on the main thread) */
  workers: number;
  /** the inputs' total size in bytes (0 when unknown, e.g. stdin) */
  totalBytes: number;
  /** called with each chunk's size as it is read, for progress */
  onBytes?: (n: number) => void;
}

/**
 * `tally ingest`: NDJSON files ("-" is stdin) appended to the log in order, the rejected
 * records to the dead letters. Needs no aggregator state, so none is restored. The log is the
 * data dir's, or `<ns>.clicks` in the distributed mode.
 */
export async function ingestFiles(
  ctx: AppContext,
  files: readonly string[],
  opts: FileIngestOptions,
): Promise<StreamIngestTotals> {
  // small inputs are not worth a worker's start-up
  const pool =
    opts.workers > 0 && (opts.totalBytes === 0 || opts.totalBytes > 4 * CHUNK_BYTES)
      ? new EncodePool(opts.workers)
      : undefined;
  const totals = { accepted: 0, rejected: 0 };
  try {
    const app = await openIngestTarget(ctx.config, { logger: ctx.logger });
    try {
      for (const file of files) {
        const input =
          file === '-' ? process.stdin : createReadStream(file, { highWaterMark: CHUNK_BYTES });
        const source = file === '-' ? 'stdin' : `file:${file}`;
        let t: StreamIngestTotals;
        try {
          t = await ingestNdjsonStream(app.ingest, input, source, {
            pool,
            ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
          });
        } catch (e) {
          throw ingestFailure(file, e, totals);
        }
        totals.accepted += t.accepted;
        totals.rejected += t.rejected;
      }
    } finally {
      await app.close();
    }
  } finally {
    await pool?.close();
  }
  return totals;
}

/**
 * The error `tally ingest` exits with: the input that failed, why, and what was made durable
 * before (of this input, and of the inputs before it), so that the operator knows what to
 * send again. Sending the whole input again is safe: what is in the log already counts once.
 */
function ingestFailure(file: string, e: unknown, before: StreamIngestTotals): TallyError {
  const cause = e instanceof StreamIngestError ? e.cause : e;
  const durable = e instanceof StreamIngestError ? e.durable : { accepted: 0, rejected: 0 };
  const code = isTallyError(cause) ? cause.code : 'TALLY_INTERNAL';
  const why = cause instanceof Error ? cause.message : String(cause);
  const name = file === '-' ? 'stdin' : file;
  return new TallyError(
    code,
    `${name}: ingest stopped: ${why}. Durable before the failure: ${durable.accepted} records accepted and ${durable.rejected} rejected from ${name}` +
      (before.accepted + before.rejected > 0
        ? ` (plus ${before.accepted} accepted, ${before.rejected} rejected from the inputs before it)`
        : '') +
      `; send ${name} again once the cause is fixed: what is already in the log counts once`,
    {
      cause,
      details: {
        file: name,
        accepted: durable.accepted,
        rejected: durable.rejected,
        ...(isTallyError(cause) ? cause.details : {}),
      },
    },
  );
}
