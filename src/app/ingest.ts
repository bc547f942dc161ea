import { createReadStream } from 'node:fs';
import { EncodePool } from '../services/ingest/encode-pool.js';
import { ingestNdjsonStream, type StreamIngestTotals } from '../services/ingest/file-ingest.js';
import type { AppContext } from './context.js';
import { openEmbedded } from './embedded.js';

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
 * records to the dead letters. Needs no aggregator state, so none is restored.
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
    const app = await openEmbedded(ctx.config, { logger: ctx.logger, restoreAggregator: false });
    try {
      for (const file of files) {
        const input =
          file === '-' ? process.stdin : createReadStream(file, { highWaterMark: CHUNK_BYTES });
        const source = file === '-' ? 'stdin' : `file:${file}`;
        const t = await ingestNdjsonStream(app.ingest, input, source, {
          pool,
          ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
        });
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
