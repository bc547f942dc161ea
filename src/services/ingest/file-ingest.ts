/**
 * NDJSON stream → the log, as `tally ingest` does it: the bytes are cut into chunks of whole
 * lines (core/event/ndjson-chunker's NdjsonChunker), encoded — a byte scanner, JSON.parse only
 * for unusual records — in worker threads (encode-pool.ts) or on this thread, and appended in
 * input order, so that offsets within a partition follow the file and indices count the
 * file's records. Several chunks are in flight so that encoding overlaps the fsyncs; memory
 * stays bounded whatever the input size.
 */
import {
  BatchEncoder,
  rebaseNdjsonBatch,
  type EncodedBatch,
} from '../../core/event/encode-batch.js';
import { NdjsonChunker } from '../../core/event/ndjson-chunker.js';
import type { EncodePool } from './encode-pool.js';
import type { IngestService } from './ingest-service.js';

/** chunks being encoded or made durable at once */
const MAX_IN_FLIGHT = 8;

export interface StreamIngestOptions {
  /** workers to encode in; without one, everything is encoded on this thread */
  pool?: EncodePool | undefined;
  /** called with each input chunk's size, for progress */
  onBytes?: (n: number) => void;
}

export interface StreamIngestTotals {
  accepted: number;
  rejected: number;
}

type Encode = (bytes: Uint8Array) => Promise<EncodedBatch>;

/**
 * Where a chunk is encoded: in a worker when one is free (one chunk each at a time), else
 * here. This thread mostly waits for reads and fsyncs, so it takes the chunks the workers
 * cannot: on idle cores the work spreads over all of them, and on a busy machine it stays
 * here instead of queueing behind descheduled workers.
 */
function encoderFor(ingest: IngestService, pool: EncodePool | undefined): Encode {
  const local = new BatchEncoder();
  return (bytes) => {
    const opts = ingest.encodeOptions();
    if (pool !== undefined && pool.pending < pool.size) return pool.encode(bytes, opts);
    return Promise.resolve(local.encodeNdjson(bytes, opts));
  };
}

/**
 * Ingests one NDJSON input (any chunking; a Buffer stream is fine) under `source`; resolves
 * with the totals once every accepted record and dead letter is durable.
 */
export async function ingestNdjsonStream(
  ingest: IngestService,
  input: AsyncIterable<Uint8Array>,
  source: string,
  opts: StreamIngestOptions = {},
): Promise<StreamIngestTotals> {
  const encode = encoderFor(ingest, opts.pool);
  const totals: StreamIngestTotals = { accepted: 0, rejected: 0 };
  const chunker = new NdjsonChunker();
  const inFlight = new Set<Promise<void>>();
  // chunks are encoded in parallel but numbered and appended one after the other
  let ordered: Promise<void> = Promise.resolve();
  let firstIndex = 0;
  let firstLine = 1;
  const submit = async (bytes: Uint8Array | undefined) => {
    if (bytes === undefined) return;
    const encoded = encode(bytes);
    const issued = ordered
      .then(() => encoded)
      .then((batch) => {
        rebaseNdjsonBatch(batch, firstIndex, firstLine);
        firstIndex += batch.records;
        firstLine += batch.lines;
        // the append takes its offsets now, before the next chunk's
        return {
          durable: ingest.ingestEncoded(batch, source).then((r) => {
            totals.accepted += r.accepted;
            totals.rejected += r.rejected.length;
          }),
        };
      });
    ordered = issued.then(() => undefined);
    ordered.catch(() => {}); // a failure surfaces through `tracked`; later chunks are not appended
    const tracked: Promise<void> = issued
      .then((x) => x.durable)
      .finally(() => inFlight.delete(tracked));
    // a failure is seen by whoever waits on it (race, all), not as an unhandled rejection
    tracked.catch(() => {});
    inFlight.add(tracked);
    if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
  };
  try {
    for await (const chunk of input) {
      opts.onBytes?.(chunk.length);
      await submit(chunker.push(chunk));
    }
    await submit(chunker.end());
    await Promise.all(inFlight);
  } catch (err) {
    // what was durable before the failure: the chunks acknowledged (appends resolve in order)
    await Promise.allSettled([...inFlight]);
    throw new StreamIngestError(err, { ...totals });
  }
  return totals;
}

/** A failed stream ingest, with the totals that were durable before the failure. */
export class StreamIngestError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly durable: StreamIngestTotals,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'StreamIngestError';
  }
}
