import type { Command } from 'commander';
import { listDeadLetters, listLate } from '../../app/readers.js';
import { commandContext } from '../context.js';
import { printJsonLines } from '../output.js';

const isoOrNull = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : null);

/** `tally deadletters` and `tally late`: one JSON object per line, oldest first. */
export function registerLists(program: Command): void {
  program
    .command('deadletters')
    .description('list rejected records with their reason and raw payload (NDJSON)')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--offset <n>', 'skip this many (default 0)')
    .action(async (opts: { limit?: string; offset?: string }) => {
      const letters = await listDeadLetters(commandContext(program), opts);
      printJsonLines(
        letters.map((l) => ({
          source: l.source,
          index: l.index,
          code: l.code,
          ...(l.field === undefined ? {} : { field: l.field }),
          error: l.reason,
          payload: l.payload,
          received_at: new Date(l.receivedAt).toISOString(),
        })),
      );
    });
  program
    .command('late')
    .description('list events that came beyond the allowed lateness (NDJSON)')
    .option('--limit <n>', 'at most this many (default 1000)')
    .action(async (opts: { limit?: string }) => {
      const late = await listLate(commandContext(program), opts);
      printJsonLines(
        late.map((l) => ({
          partition: l.partition,
          offset: l.offset,
          ad_id: l.adId,
          timestamp: new Date(l.timestamp).toISOString(),
          event_id: l.eventId,
          watermark: isoOrNull(l.watermark),
          event: JSON.parse(l.raw) as unknown,
        })),
      );
    });
}
