/**
 * A quick throughput probe of the embedded log (not a test, not a benchmark baseline):
 *
 *   node dist/test/integration/log-embedded-throughput.js [seconds-per-case]
 *
 * Appends 100-byte records in 1000-record batches, fsync on and off, with 1, 4 and 16
 * concurrent appenders over 8 partitions; 10-record appends from 64 appenders (group commit);
 * then reads everything back sequentially.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedLog, type Durability } from '../../src/adapters/log-embedded/index.js';

const RECORD_BYTES = 100;
const BATCH_RECORDS = 1000;
const PARTITIONS = 8;

function batchData(records: number): Uint8Array {
  const body = RECORD_BYTES - 4;
  const buf = Buffer.alloc(records * RECORD_BYTES, 0x61);
  for (let i = 0; i < records; i++) buf.writeUInt32LE(body, i * RECORD_BYTES);
  return buf;
}

async function appendCase(
  durability: Durability,
  appenders: number,
  seconds: number,
  batchRecords = BATCH_RECORDS,
) {
  const dir = await mkdtemp(join(tmpdir(), 'tally-log-tput-'));
  const log = await openEmbeddedLog({ dir, partitions: PARTITIONS, durability });
  const data = batchData(batchRecords);
  const until = Date.now() + seconds * 1000;
  let records = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: appenders }, async (_, a) => {
      for (let i = 0; Date.now() < until; i++) {
        await log.append([{ partition: (a + i) % PARTITIONS, data, count: batchRecords }]);
        records += batchRecords;
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  await log.close();
  return { dir, records, secs };
}

async function readCase(dir: string, maxRecords: number) {
  const log = await openEmbeddedLog({ dir });
  let records = 0;
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (let p = 0; p < log.partitions; p++) {
    for (let offset = log.startOffset(p); offset < log.endOffset(p);) {
      const r = await log.read(p, offset, maxRecords);
      records += r.count;
      bytes += r.data.byteLength;
      offset = r.nextOffset;
    }
  }
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  await log.close();
  return { records, bytes, secs };
}

const seconds = Number(process.argv[2] ?? 3);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
let keep: string | undefined;
for (const durability of ['fsync', 'none'] as const) {
  for (const appenders of [1, 4, 16]) {
    const r = await appendCase(durability, appenders, seconds);
    console.log(
      `append durability=${durability} appenders=${appenders}: ${fmt(r.records / r.secs)} records/s, ` +
        `${(((r.records / r.secs) * RECORD_BYTES) / 2 ** 20).toFixed(0)} MiB/s`,
    );
    if (keep === undefined && durability === 'none' && appenders === 16) keep = r.dir;
    else await rm(r.dir, { recursive: true, force: true });
  }
}
// many small appends (an ingest request's worth each): what group commit is for
{
  const r = await appendCase('fsync', 64, seconds, 10);
  console.log(
    `append durability=fsync appenders=64 batch=10 records: ${fmt(r.records / r.secs)} records/s, ` +
      `${fmt(r.records / 10 / r.secs)} appends/s`,
  );
  await rm(r.dir, { recursive: true, force: true });
}
if (keep !== undefined) {
  for (const maxRecords of [100, 10_000]) {
    const r = await readCase(keep, maxRecords);
    console.log(
      `read maxRecords=${maxRecords}: ${fmt(r.records / r.secs)} records/s, ` +
        `${(r.bytes / r.secs / 2 ** 20).toFixed(0)} MiB/s (${fmt(r.records)} records, page cache warm)`,
    );
  }
  await rm(keep, { recursive: true, force: true });
}
