import { createReadStream, existsSync, statSync } from 'node:fs';
import { TallyError } from '../../core/errors.js';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { openEmbedded } from '../../app/embedded.js';
import { NdjsonRecordStream, type ParsedRecord } from '../../core/event/parse-body.js';
import type { IngestService } from '../../services/ingest/ingest-service.js';
import { commandConfig, type GlobalOptions } from '../context.js';
import { printJson } from '../output.js';

const BATCH_RECORDS = 8192;
const MAX_IN_FLIGHT = 4;

interface Totals {
  accepted: number;
  rejected: number;
}

/**
 * Streams one NDJSON input into the log in batches, a few appends in flight so that parsing
 * and validation overlap the fsyncs; memory stays bounded whatever the file size.
 */
async function ingestStream(
  ingest: IngestService,
  input: NodeJS.ReadableStream,
  source: string,
  totals: Totals,
  onBytes: (n: number) => void,
): Promise<void> {
  const stream = new NdjsonRecordStream();
  const inFlight = new Set<Promise<void>>();
  let batch: ParsedRecord[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const records = batch;
    batch = [];
    const p = ingest.ingest(records, source).then((r) => {
      totals.accepted += r.accepted;
      totals.rejected += r.rejected.length;
    });
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
  };
  for await (const chunk of input) {
    const buf = chunk as Buffer;
    onBytes(buf.length);
    for (const rec of stream.push(buf)) {
      batch.push(rec);
      if (batch.length >= BATCH_RECORDS) await flush();
    }
  }
  batch.push(...stream.end());
  await flush();
  await Promise.all(inFlight);
}

export function registerIngest(program: Command): void {
  program
    .command('ingest <files...>')
    .description('append NDJSON click events to the log ("-" reads stdin); prints {"accepted","rejected"}')
    .action(async (files: string[]) => {
      const { config, logger } = commandConfig(program.opts<GlobalOptions>());
      for (const f of files) {
        if (f !== '-' && !existsSync(f)) {
          throw new TallyError('TALLY_BAD_PARAMETER', `file: cannot read "${f}": no such file`, { field: 'file' });
        }
      }
      const app = await openEmbedded(config, { logger, restoreAggregator: false });
      const totals: Totals = { accepted: 0, rejected: 0 };
      const sizes = files.map((f) => (f === '-' ? 0 : statSync(f).size));
      const totalBytes = sizes.reduce((a, b) => a + b, 0);
      const bar =
        process.stderr.isTTY && totalBytes > 8 * 1024 * 1024
          ? new cliProgress.SingleBar(
              { stream: process.stderr, format: 'ingest [{bar}] {percentage}% | {value}/{total} MiB | {eta}s left' },
              cliProgress.Presets.shades_classic,
            )
          : undefined;
      let done = 0;
      bar?.start(Math.ceil(totalBytes / 2 ** 20), 0);
      try {
        for (const file of files) {
          const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
          const source = file === '-' ? 'stdin' : `file:${file}`;
          await ingestStream(app.ingest, input, source, totals, (n) => {
            done += n;
            bar?.update(Math.floor(done / 2 ** 20));
          });
        }
      } finally {
        bar?.stop();
        await app.close();
      }
      printJson(totals);
    });
}
