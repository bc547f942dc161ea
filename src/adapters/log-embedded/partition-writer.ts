import type { Partition } from './partition.js';
import type { AppendIo } from './fs-durable.js';
import type { Segment } from './segment.js';

/** One batch ready to write: its offsets were assigned when it was enqueued. */
export interface PendingBatch {
  partition: number;
  baseOffset: number;
  count: number;
  header: Buffer;
  payload: Uint8Array;
  /** header + payload */
  bytes: number;
}

export interface WriteOptions {
  segmentBytes: number;
  fsync: boolean;
  io: AppendIo;
}

/**
 * Writes one group's batches for one partition: a single writev per segment touched, then
 * fsync. When a batch would take the active segment past `segmentBytes`, what is already
 * queued for it is written and fsynced before the next segment is created, so a newer segment
 * file implies complete, durable older ones (recovery relies on it).
 */
export async function writePartitionGroup(
  p: Partition,
  batches: readonly PendingBatch[],
  opts: WriteOptions,
): Promise<void> {
  let seg = p.active;
  let run: PendingBatch[] = [];
  let runBytes = 0;
  for (const b of batches) {
    const used = seg.size + runBytes;
    if (used > 0 && used + b.bytes > opts.segmentBytes) {
      await writeRun(p, seg, run, runBytes, opts);
      seg = await p.roll(b.baseOffset, opts.fsync);
      run = [];
      runBytes = 0;
    }
    run.push(b);
    runBytes += b.bytes;
  }
  await writeRun(p, seg, run, runBytes, opts);
}

async function writeRun(
  p: Partition,
  seg: Segment,
  run: readonly PendingBatch[],
  runBytes: number,
  opts: WriteOptions,
): Promise<void> {
  if (run.length === 0) return;
  const buffers: Uint8Array[] = [];
  for (const b of run) buffers.push(b.header, b.payload);
  const fh = await seg.acquire();
  try {
    await opts.io.write(fh, buffers, seg.size);
    if (opts.fsync) await opts.io.sync(fh);
  } finally {
    seg.release();
  }
  let position = seg.size;
  for (const b of run) {
    seg.indexBatch(b.baseOffset, position, position === 0);
    position += b.bytes;
  }
  const last = run[run.length - 1] as PendingBatch;
  seg.size += runBytes;
  seg.endOffset = last.baseOffset + last.count;
  // readers see a batch only once it is durable: a consumer must never commit an offset
  // that a crash could take back
  seg.durableSize = seg.size;
  p.durableEnd = seg.endOffset;
}
