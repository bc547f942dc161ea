import { stat } from 'node:fs/promises';
import type { ClosedRange, RawRetention, RawSource } from '../../ports/raw-archive.js';
import type { EmbeddedLog } from './embedded-log.js';

/**
 * The embedded log as the archiver's source and retention: its closed ranges are its sealed
 * segments (never written again), and retention deletes whole segments.
 */
export function embeddedRawSource(log: EmbeddedLog): RawSource & RawRetention {
  return {
    partitions: log.partitions,
    async closedRanges(partition, fromOffset) {
      const out: ClosedRange[] = [];
      for (const s of log.sealedSegments(partition)) {
        if (s.toOffset <= fromOffset) continue;
        const mtime = await stat(s.path).then(
          (st) => st.mtimeMs,
          () => Date.now(),
        );
        out.push({
          partition,
          fromOffset: s.fromOffset,
          toOffset: s.toOffset,
          bytes: s.bytes,
          lastWriteTime: mtime,
        });
      }
      return out;
    },
    read: (partition, fromOffset, maxRecords) => log.read(partition, fromOffset, maxRecords),
    startOffset: (partition) => log.startOffset(partition),
    endOffset: (partition) => log.endOffset(partition),
    async releaseBefore(partition, offset) {
      const before = log.bytesOnDisk();
      const { startOffset } = await log.deleteSegmentsBefore(partition, offset);
      return { startOffset, bytes: before - log.bytesOnDisk() };
    },
    bytes: () => log.bytesOnDisk(),
  };
}
