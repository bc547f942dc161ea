import type { Command } from 'commander';
import { openFileDeadLetters } from '../../adapters/deadletters-file/index.js';
import { openSqliteStore } from '../../adapters/store-sqlite/index.js';
import { dataPaths } from '../../app/embedded.js';
import { parseIntParam } from '../../services/query/params.js';
import { commandConfig, type GlobalOptions } from '../context.js';
import { printJsonLines } from '../output.js';

/** `tally deadletters` and `tally late`: one JSON object per line, oldest first. */
export function registerLists(program: Command): void {
  program
    .command('deadletters')
    .description('list rejected records with their reason and raw payload (NDJSON)')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--offset <n>', 'skip this many (default 0)')
    .action(async (opts: { limit?: string; offset?: string }) => {
      const { config } = commandConfig(program.opts<GlobalOptions>());
      const limit = parseIntParam('limit', opts.limit, 1000, 1, 10_000_000);
      const offset = parseIntParam('offset', opts.offset, 0, 0, Number.MAX_SAFE_INTEGER);
      const dl = await openFileDeadLetters(dataPaths(config.dataDir).deadLetters);
      try {
        const letters = await dl.list(limit, offset);
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
      } finally {
        await dl.close();
      }
    });
  program
    .command('late')
    .description('list events that came beyond the allowed lateness (NDJSON)')
    .option('--limit <n>', 'at most this many (default 1000)')
    .action(async (opts: { limit?: string }) => {
      const { config, logger } = commandConfig(program.opts<GlobalOptions>());
      const limit = parseIntParam('limit', opts.limit, 1000, 1, 10_000_000);
      const store = await openSqliteStore({ file: dataPaths(config.dataDir).store, logger });
      try {
        const late = await store.late(limit);
        printJsonLines(
          late.map((l) => ({
            partition: l.partition,
            offset: l.offset,
            ad_id: l.adId,
            timestamp: new Date(l.timestamp).toISOString(),
            event_id: l.eventId,
            watermark: Number.isFinite(l.watermark) ? new Date(l.watermark).toISOString() : null,
            event: JSON.parse(l.raw) as unknown,
          })),
        );
      } finally {
        await store.close();
      }
    });
}
