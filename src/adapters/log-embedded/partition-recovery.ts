import { mkdir, open, readdir } from 'node:fs/promises';
import { fsyncDir } from './fs-durable.js';
import { Partition, segmentDir, type CorruptRange } from './partition.js';
import { scanSegment } from './segment-scan.js';
import { Segment, parseSegmentFileName } from './segment.js';
import type { LogDamage, LogLogger } from './types.js';

export interface RecoveredPartition {
  partition: Partition;
  damage: LogDamage[];
}

/**
 * Opens one partition and rebuilds its index from the batch headers. Only the newest segment
 * can hold a torn write (a new segment is created only after the previous one is durable),
 * so only it is verified in full (every payload CRC) and only its tail is ever cut. Sealed
 * segments get a header walk; their payload CRCs are checked as they are read. Damage before
 * intact batches is never dropped: it is reported and refused on read.
 */
export async function recoverPartition(
  logDir: string,
  id: number,
  logger: LogLogger,
): Promise<RecoveredPartition> {
  const dir = segmentDir(logDir, id);
  const created = (await mkdir(dir, { recursive: true })) !== undefined;
  if (created) await fsyncDir(logDir);
  const bases = (await readdir(dir))
    .map(parseSegmentFileName)
    .filter((b): b is number => b !== undefined)
    .sort((a, b) => a - b);
  if (bases.length === 0) {
    const first = new Segment(dir, 0, true);
    await (await open(first.path, 'wx+')).close();
    await fsyncDir(dir);
    bases.push(0);
  }

  const segments: Segment[] = [];
  const corrupt: CorruptRange[] = [];
  const damage: LogDamage[] = [];
  const report = (d: LogDamage): void => {
    damage.push(d);
    const fields = { ...d, dir };
    if (d.kind === 'truncated') logger.warn(fields, 'log: torn tail cut off on open');
    else logger.error(fields, 'log: corrupt batches kept on disk; reads there will fail');
  };

  for (const [i, base] of bases.entries()) {
    const last = i === bases.length - 1;
    const seg = new Segment(dir, base, last);
    const fh = await seg.acquire();
    try {
      const fileSize = (await fh.stat()).size;
      const scan = await scanSegment({
        fh,
        fileSize,
        baseOffset: base,
        verifyPayloads: last,
        onBatch: (offset, position, _header, afterGap) =>
          seg.indexBatch(offset, position, position === 0 || afterGap),
      });
      seg.endOffset = scan.endOffset;
      seg.size = fileSize;
      for (const g of scan.gaps) {
        corrupt.push({ ...g, segment: seg.name });
        report({ partition: id, segment: seg.name, kind: 'corrupt', bytesDropped: 0, ...g });
      }
      const nextBase = bases[i + 1];
      if (scan.tail !== undefined && last) {
        await fh.truncate(scan.end);
        await fh.sync();
        seg.size = scan.end;
        report({
          partition: id,
          segment: seg.name,
          kind: 'truncated',
          position: scan.end,
          reason: scan.tail.reason,
          bytesDropped: fileSize - scan.end,
          fromOffset: scan.endOffset,
          toOffset: scan.endOffset,
        });
      } else if (nextBase !== undefined && scan.endOffset !== nextBase) {
        const range = {
          fromOffset: Math.min(scan.endOffset, nextBase),
          toOffset: Math.max(scan.endOffset, nextBase),
          position: scan.end,
          reason:
            scan.tail?.reason ??
            `segment ends at offset ${scan.endOffset} but the next one starts at ${nextBase}`,
        };
        // an overlap is left to the newer segment, which wins on read
        if (scan.endOffset < nextBase) corrupt.push({ ...range, segment: seg.name });
        report({ partition: id, segment: seg.name, kind: 'corrupt', bytesDropped: 0, ...range });
      }
      seg.durableSize = seg.size;
    } finally {
      seg.release();
    }
    if (!last) await seg.closeIfIdle();
    segments.push(seg);
  }
  return { partition: new Partition(id, dir, segments, corrupt), damage };
}
