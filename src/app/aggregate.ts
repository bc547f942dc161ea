import type { AppContext } from './context.js';
import { openEmbedded } from './embedded.js';

export interface DrainSummary {
  drained: true;
  events: number;
  duplicates: number;
  late: number;
  /** next offset per partition, as committed */
  offsets: Record<string, number>;
}

/** `tally aggregate --drain`: consume the whole log, close every minute, commit, close. */
export async function drainAggregator(ctx: AppContext): Promise<DrainSummary> {
  const app = await openEmbedded(ctx.config, { logger: ctx.logger });
  try {
    await app.runner.drain();
    const c = app.runner.counters;
    return {
      drained: true,
      events: c.events,
      duplicates: c.duplicates,
      late: c.late,
      offsets: Object.fromEntries(app.runner.committedOffsets),
    };
  } finally {
    await app.close();
  }
}

/** `tally aggregate`: the aggregator alone, until `stop()` makes its final commit. */
export async function runAggregator(ctx: AppContext): Promise<{ stop(): Promise<void> }> {
  const app = await openEmbedded(ctx.config, { logger: ctx.logger });
  app.runner.start();
  return { stop: () => app.close() };
}
