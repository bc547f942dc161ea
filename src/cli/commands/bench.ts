import type { Command } from 'commander';
import { commandContext } from '../context.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/bench.js');

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'the benchmark suite: events/s, latency percentiles, memory, ratios against baselines',
    )
    .option('--only <names>', 'run only these entries (comma-separated)')
    .option(
      '--quick',
      'small workloads: a few minutes for the whole suite, seconds to a minute per entry',
    )
    .option('--json', 'print one JSON array of {name, metric, value, unit}')
    .action(async (opts: { only?: string; quick?: boolean; json?: boolean }) => {
      await (
        await app()
      ).runBenchSuite(commandContext(program), {
        only: opts.only
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        quick: opts.quick === true,
        json: opts.json === true,
      });
    });
}
