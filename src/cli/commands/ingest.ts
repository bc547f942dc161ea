import { createReadStream, existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { TallyError } from '../../core/errors.js';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { openEmbedded } from '../../app/embedded.js';
import {
  BatchEncoder,
  NdjsonChunker,
  rebaseNdjsonBatch,
  type EncodedBatch,
} from '../../core/event/encode-batch.js';
import { EncodePool } from '../../services/ingest/encode-pool.js';
import type { IngestService } from '../../services/ingest/ingest-service.js';
import { commandConfig, type GlobalOptions } from '../context.js';
import { printJson } from '../output.js';

/** read size: each chunk of whole lines (~8k records) becomes one append */
const CHUNK_BYTES = 1 << 20;
/** chunks being encoded or made durable at once: bounds memory whatever the file size */
const MAX_IN_FLIGHT = 8;

interface Totals {
  accepted: number;
  rejected: number;
}

type Encode = (bytes: Uint8Array) => Promise<EncodedBatch>;

/**
 * Streams one NDJSON input into the log: the bytes are cut into chunks of whole lines,
 * encoded (core/event/encode-batch: a byte scanner, JSON.parse only for unusual records) in
 * worker threads or here, and appended in input order — so offsets within a partition follow
 * the file — with several chunks in flight so that encoding overlaps the fsyncs.
 */
async function ingestStream(
  ingest: IngestService,
  encode: Encode,
  input: NodeJS.ReadableStream,
  source: string,
  totals: Totals,
  onBytes: (n: number) => void,
): Promise<void> {
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
    const tracked: Promise<void> = issued
      .then((x) => x.durable)
      .finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
  };
  for await (const chunk of input) {
    const buf = chunk as Buffer;
    onBytes(buf.length);
    await submit(chunker.push(buf));
  }
  await submit(chunker.end());
  await Promise.all(inFlight);
}

/** Worker threads to encode with: one per core beyond the first, which reads and appends. */
function defaultEncodeWorkers(): number {
  return Math.min(4, availableParallelism());
}

export function registerIngest(program: Command): void {
  program
    .command('ingest <files...>')
    .description('append NDJSON click events to the log ("-" reads stdin); prints {"accepted","rejected"}')
    .option(
      '--encode-workers <n>',
      'worker threads that parse and encode records (0: in the main thread; default: one per core)',
    )
    .action(async (files: string[], cmd: { encodeWorkers?: string }) => {
      const { config, logger } = commandConfig(program.opts<GlobalOptions>());
      for (const f of files) {
        if (f !== '-' && !existsSync(f)) {
          throw new TallyError('TALLY_BAD_PARAMETER', `file: cannot read "${f}": no such file`, { field: 'file' });
        }
      }
      const workers = cmd.encodeWorkers === undefined ? defaultEncodeWorkers() : Number(cmd.encodeWorkers);
      if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
        throw new TallyError('TALLY_BAD_PARAMETER', '--encode-workers: must be an integer from 0 to 64', {
          field: 'encode-workers',
        });
      }
      const sizes = files.map((f) => (f === '-' ? 0 : statSync(f).size));
      const totalBytes = sizes.reduce((a, b) => a + b, 0);
      // small inputs are not worth a worker's start-up
      const pool = workers > 0 && (totalBytes === 0 || totalBytes > 4 * CHUNK_BYTES) ? new EncodePool(workers) : undefined;
      const app = await openEmbedded(config, { logger, restoreAggregator: false });
      const totals: Totals = { accepted: 0, rejected: 0 };
      const bar =
        process.stderr.isTTY && totalBytes > 8 * 1024 * 1024
          ? new cliProgress.SingleBar(
              { stream: process.stderr, format: 'ingest [{bar}] {percentage}% | {value}/{total} MiB | {eta}s left' },
              cliProgress.Presets.shades_classic,
            )
          : undefined;
      const local = new BatchEncoder();
      const encode: Encode = (bytes) => {
        const opts = app.ingest.encodeOptions();
        return pool !== undefined ? pool.encode(bytes, opts) : Promise.resolve(local.encodeNdjson(bytes, opts));
      };
      let done = 0;
      bar?.start(Math.ceil(totalBytes / 2 ** 20), 0);
      try {
        for (const file of files) {
          const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: CHUNK_BYTES });
          const source = file === '-' ? 'stdin' : `file:${file}`;
          await ingestStream(app.ingest, encode, input, source, totals, (n) => {
            done += n;
            bar?.update(Math.floor(done / 2 ** 20));
          });
        }
      } finally {
        bar?.stop();
        await pool?.close();
        await app.close();
      }
      printJson(totals);
    });
}
