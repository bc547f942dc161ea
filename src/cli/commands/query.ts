import type { Command } from 'commander';
import { openSqliteStore } from '../../adapters/store-sqlite/index.js';
import { dataPaths } from '../../app/embedded.js';
import { systemClock } from '../../ports/clock.js';
import { QueryService } from '../../services/query/query-service.js';
import { commandConfig, type GlobalOptions } from '../context.js';
import { printJson } from '../output.js';

/**
 * Queries read the store only (SQLite allows readers beside a running `tally start`); the
 * default `to` of `top` comes from the last committed watermark.
 */
async function withQuery<T>(program: Command, fn: (q: QueryService) => Promise<T>): Promise<T> {
  const { config, logger } = commandConfig(program.opts<GlobalOptions>());
  const store = await openSqliteStore({ file: dataPaths(config.dataDir).store, logger });
  try {
    const cp = await store.loadCheckpoint('aggregator');
    const q = new QueryService({
      store,
      clock: systemClock,
      dimensions: config.aggregation.dimensions,
      namedFilters: config.filters,
      topN: config.aggregation.topN,
      topWindows: config.aggregation.topWindows,
      watermark: () => cp.watermark,
    });
    return await fn(q);
  } finally {
    await store.close();
  }
}

export function registerQuery(program: Command): void {
  const query = program.command('query').description('read aggregates (same JSON as the HTTP API)');
  query
    .command('count <ad_id>')
    .description('clicks of one ad over the minutes from ≤ m < to')
    .option('--from <time>', 'ISO-8601 or epoch ms (default: to − 1 min)')
    .option('--to <time>', 'ISO-8601 or epoch ms (default: now)')
    .option('--filter <filter>', 'a named filter or an expression such as country=US,CA')
    .action(async (adId: string, opts: { from?: string; to?: string; filter?: string }) => {
      printJson(await withQuery(program, (q) => q.count(adId, opts)));
    });
  query
    .command('top')
    .description('the most clicked ads over the window ending at --to')
    .option('--count <n>', 'how many ads (default 100)')
    .option('--window <minutes>', 'window size in minutes (default 1)')
    .option('--to <time>', 'window end (default: the end of the last closed minute)')
    .option('--filter <filter>', 'a named filter or an expression such as country=US')
    .action(async (opts: { count?: string; window?: string; to?: string; filter?: string }) => {
      printJson(await withQuery(program, (q) => q.popular(opts)));
    });
  query
    .command('timeseries <ad_id>')
    .description('per-minute counts of one ad')
    .option('--from <time>', 'ISO-8601 or epoch ms (default: to − 60 min)')
    .option('--to <time>', 'ISO-8601 or epoch ms (default: now)')
    .option('--filter <filter>', 'a named filter or an expression such as country=US')
    .action(async (adId: string, opts: { from?: string; to?: string; filter?: string }) => {
      printJson(await withQuery(program, (q) => q.timeseries(adId, opts)));
    });
}
