import type { ArchiveProgress, ArchiveSummary } from '../services/archive/archiver.js';
import type { AppContext } from './context.js';
import { openEmbedded } from './embedded.js';

/**
 * `tally archive`: archive every closed log segment now and apply log retention. Needs the data
 * dir to itself (the running service archives by itself every archive.intervalMs). The
 * aggregator is not restored: archiving reads the log, and retention reads the committed
 * snapshot offsets from the store.
 */
export async function archiveNow(
  ctx: AppContext,
  onProgress?: (p: ArchiveProgress) => void,
): Promise<ArchiveSummary & { archiveBytes: number; archiveRanges: number }> {
  const app = await openEmbedded(ctx.config, { logger: ctx.logger, restoreAggregator: false });
  try {
    const summary = await app.archiver.runOnce(onProgress);
    return {
      ...summary,
      archiveBytes: app.archive.bytes(),
      archiveRanges: app.archive.ranges().length,
    };
  } finally {
    await app.close();
  }
}
