import type { Command } from 'commander';
import { commandConfig, type GlobalOptions } from '../context.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'the benchmark suite: events/s, latency percentiles, memory, ratios against baselines',
    )
    .option('--only <names>', 'run only these entries (comma-separated)')
    .option('--quick', 'small workloads: finishes in under a minute')
    .option('--json', 'print one JSON array of {name, metric, value, unit}')
    .action(async (opts: { only?: string; quick?: boolean; json?: boolean }) => {
      const { config, logger } = commandConfig(program.opts<GlobalOptions>());
      // loaded on demand: the suite pulls in DuckDB and autocannon, which no other command needs
      const { runBench } = await import('../../../bench/index.js');
      await runBench({
        only: opts.only
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        quick: opts.quick === true,
        json: opts.json === true,
        config,
        logger,
      });
    });
}
