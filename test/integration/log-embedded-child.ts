/**
 * The writer that log-embedded.test.ts kills with SIGKILL: it appends forever from several
 * concurrent loops and prints one JSON line per acknowledged batch. Records carry who wrote
 * them, so the parent can check every acknowledged one after a reopen.
 *
 *   node log-embedded-child.js <dir> <tag>
 */
import { fileURLToPath } from 'node:url';
import { openEmbeddedLog } from '../../src/adapters/log-embedded/index.js';

export const CHILD_PARTITIONS = 4;
export const CHILD_SEGMENT_BYTES = 256 * 1024;
const WRITERS = 4;
const RECORD_HEADER = 16;

/** One acknowledged batch: partition, base offset, count, and whose records they are. */
export interface Ack {
  p: number;
  o: number;
  n: number;
  t: number;
  w: number;
  s: number;
}

function fillerLength(tag: number, writer: number, seq: number): number {
  return (seq * 7 + writer * 13 + tag) % 120;
}

function fillerByte(tag: number, writer: number, seq: number, i: number): number {
  return (seq + i * 31 + writer * 17 + tag * 7) & 0xff;
}

/** A framed record: [u32 len][u32 tag][u32 writer][u32 seq][u32 partition][filler]. */
export function childRecord(tag: number, writer: number, seq: number, partition: number): Buffer {
  const len = RECORD_HEADER + fillerLength(tag, writer, seq);
  const b = Buffer.allocUnsafe(4 + len);
  b.writeUInt32LE(len, 0);
  b.writeUInt32LE(tag, 4);
  b.writeUInt32LE(writer, 8);
  b.writeUInt32LE(seq, 12);
  b.writeUInt32LE(partition, 16);
  for (let i = 0; i < len - RECORD_HEADER; i++) b[20 + i] = fillerByte(tag, writer, seq, i);
  return b;
}

/** Why `record` (without its length prefix) is not a well-formed child record, or undefined. */
export function checkChildRecord(
  record: Uint8Array,
  expect?: { tag: number; writer: number; seq: number; partition: number },
): string | undefined {
  const b = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (b.byteLength < RECORD_HEADER) return 'too short';
  const tag = b.readUInt32LE(0);
  const writer = b.readUInt32LE(4);
  const seq = b.readUInt32LE(8);
  const partition = b.readUInt32LE(12);
  if (expect !== undefined) {
    const got = { tag, writer, seq, partition };
    if (JSON.stringify(got) !== JSON.stringify(expect)) {
      return `expected ${JSON.stringify(expect)}, found ${JSON.stringify(got)}`;
    }
  }
  if (b.byteLength !== RECORD_HEADER + fillerLength(tag, writer, seq)) return 'wrong length';
  for (let i = 0; i < b.byteLength - RECORD_HEADER; i++) {
    if (b[RECORD_HEADER + i] !== fillerByte(tag, writer, seq, i)) return `bad filler byte ${i}`;
  }
  return undefined;
}

async function main(dir: string, tag: number): Promise<void> {
  const log = await openEmbeddedLog({
    dir,
    partitions: CHILD_PARTITIONS,
    segmentBytes: CHILD_SEGMENT_BYTES,
  });
  process.stdout.write('ready\n');
  let state = tag * 2654435761;
  const rnd = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 16) % n;
  };
  const writer = async (w: number): Promise<never> => {
    let seq = 0;
    for (;;) {
      // some appends span two partitions, like an ingest request does
      const parts =
        rnd(4) === 0 ? [rnd(CHILD_PARTITIONS), rnd(CHILD_PARTITIONS)] : [rnd(CHILD_PARTITIONS)];
      const batches = [...new Set(parts)].map((p) => {
        const n = 1 + rnd(60);
        const first = seq;
        seq += n;
        const data = Buffer.concat(
          Array.from({ length: n }, (_, i) => childRecord(tag, w, first + i, p)),
        );
        return { partition: p, data, count: n, first };
      });
      const r = await log.append(batches);
      const lines = batches.map((b) => {
        const ack: Ack = {
          p: b.partition,
          o: r.baseOffsets.get(b.partition) as number,
          n: b.count,
          t: tag,
          w,
          s: b.first,
        };
        return JSON.stringify(ack);
      });
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, tag] = process.argv.slice(2);
  if (dir === undefined || tag === undefined)
    throw new Error('usage: log-embedded-child <dir> <tag>');
  await main(dir, Number(tag));
}
