import type { Command } from 'commander';
import { commandContext } from '../context.js';
import { printJson } from '../output.js';
import { onShutdown } from '../shutdown.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/aggregate.js');

export function registerAggregate(program: Command): void {
  program
    .command('aggregate')
    .description(
      'run the aggregator over the log; --drain consumes all of it, closes every minute, commits and exits',
    )
    .option(
      '--drain',
      'treat the input as complete: consume the whole log, close every window, exit 0',
    )
    .action(async (opts: { drain?: boolean }) => {
      const ctx = commandContext(program);
      if (opts.drain) {
        printJson(await (await app()).drainAggregator(ctx));
        return;
      }
      const aggregator = await (await app()).runAggregator(ctx);
      ctx.logger.info('aggregator running; SIGINT or SIGTERM stops it after a final commit');
      await onShutdown(() => aggregator.stop());
    });
}
