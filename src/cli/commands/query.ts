import type { Command } from 'commander';
import { openSqliteStore } from '../../adapters/store-sqlite/index.js';
import { dataPaths } from '../../app/embedded.js';
import { systemClock } from '../../ports/clock.js';
import { QueryService } from '../../services/query/query-service.js';
import { RawScanner } from '../../services/query/raw-scan.js';
import { openEmbeddedLog } from '../../adapters/log-embedded/index.js';
import { TallyError } from '../../core/errors.js';
import { commandConfig, type GlobalOptions } from '../context.js';
import { printJson } from '../output.js';

/**
 * Queries read the store only (SQLite allows readers beside a running `tally start`); the
 * default `to` of `top` comes from the last committed watermark.
 */
async function withQuery<T>(program: Command, fn: (q: QueryService) => Promise<T>): Promise<T> {
  const { config, logger } = commandConfig(program.opts<GlobalOptions>());
  const paths = dataPaths(config.dataDir);
  const store = await openSqliteStore({ file: paths.store, logger });
  // filters on attributes that are not pre-aggregated read raw events: the log is opened
  // only then, and only when no running process owns it
  const raw = new RawScanner(() =>
    openEmbeddedLog({ dir: paths.log, logger }).catch((e: unknown) => {
      throw new TallyError(
        'TALLY_UNAVAILABLE',
        `this filter reads raw events, and the log cannot be opened (${(e as Error).message}); ask the running server's HTTP API instead`,
        { field: 'filter', cause: e },
      );
    }),
  );
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
      rawScanner: raw,
    });
    return await fn(q);
  } finally {
    await raw.close();
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
