import type { Command } from 'commander';
import { openEmbedded } from '../../app/embedded.js';
import { commandConfig, type GlobalOptions } from '../context.js';
import { printJson } from '../output.js';
import { onShutdown } from '../shutdown.js';

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
      const { config, logger } = commandConfig(program.opts<GlobalOptions>());
      const app = await openEmbedded(config, { logger });
      if (opts.drain) {
        await app.runner.drain();
        const c = app.runner.counters;
        const offsets = Object.fromEntries(app.runner.committedOffsets);
        await app.close();
        printJson({
          drained: true,
          events: c.events,
          duplicates: c.duplicates,
          late: c.late,
          offsets,
        });
        return;
      }
      app.runner.start();
      logger.info('aggregator running; SIGINT or SIGTERM stops it after a final commit');
      await onShutdown(async () => {
        await app.close();
      });
    });
}
