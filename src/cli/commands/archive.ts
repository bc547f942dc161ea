import type { Command } from 'commander';
import { commandContext } from '../context.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/archive.js');

/** `tally archive`: closed log segments → Parquet now, then log retention. */
export function registerArchive(program: Command): void {
  program
    .command('archive')
    .description(
      'move closed raw log segments to the Parquet archive now, then delete what retention allows (the running service also does it by itself)',
    )
    .action(async () => {
      const bar = progressBar('archive');
      try {
        const summary = await (
          await app()
        ).archiveNow(commandContext(program), (p) =>
          bar.update(p.rangesDone, p.rangesTotal, `${p.records} events`),
        );
        bar.stop();
        printJson({
          archived_ranges: summary.ranges,
          archived_events: summary.records,
          parquet_bytes: summary.parquetBytes,
          deleted_segments: summary.deletedSegments,
          deleted_bytes: summary.deletedBytes,
          log_bytes: summary.logBytes,
          archive_bytes: summary.archiveBytes,
          archive_ranges: summary.archiveRanges,
          ms: summary.ms,
          held: summary.held,
          partitions: summary.partitions.map((p) => ({
            partition: p.partition,
            archived_up_to: p.archivedUpTo,
            start_offset: p.startOffset,
            end_offset: p.endOffset,
          })),
        });
      } finally {
        bar.stop();
      }
    });
}
