/**
 * The retention job: rolls minute rows older than `retention.minuteDays` up to hourly rows,
 * and hourly rows older than `retention.hourDays` up to daily rows (AggregateRetention), by
 * the committed watermark (event time), never within the lateness (minutes the aggregator
 * may still correct). Queries over rolled ranges read the rollups and answer the same sums.
 */
import type { Config } from '../../config/index.js';
import { MINUTE_MS } from '../../core/window/minute.js';
import type { AggregateReader } from '../../ports/aggregate-reader.js';
import type { AggregateRetention, RollupResult } from '../../ports/aggregate-retention.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { Periodic } from '../periodic.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface RetentionJobOptions {
  store: AggregateRetention & Pick<AggregateReader, 'status'>;
  retention: Config['retention'];
  allowedLatenessMs: number;
  consumer: string;
  logger: Logger;
  metrics?: Metrics | undefined;
}

/** Where minute rows and hourly rows may end at watermark W (multiples of an hour, a day). */
export function rollupCutoffs(
  W: number,
  retention: Config['retention'],
  allowedLatenessMs: number,
): { minutesBefore: number; hoursBefore: number } | undefined {
  if (!Number.isFinite(W)) return undefined;
  // a minute the aggregator may still correct is never rolled, whatever the configuration
  const lastFinal = W - allowedLatenessMs - MINUTE_MS;
  const minutesBefore =
    Math.floor(Math.min(W - retention.minuteDays * DAY_MS, lastFinal) / HOUR_MS) * HOUR_MS;
  const hoursBefore =
    Math.floor(Math.min(W - retention.hourDays * DAY_MS, minutesBefore) / DAY_MS) * DAY_MS;
  return { minutesBefore, hoursBefore };
}

export class RetentionJob {
  private running: Promise<unknown> | undefined;
  private readonly periodic = new Periodic({
    run: () => this.runOnce(),
    onError: (err) => {
      this.o.logger.error({ err }, 'retention: rollup failed; retrying at the next interval');
    },
    inFlight: () => this.running,
  });

  constructor(private readonly o: RetentionJobOptions) {}

  /** One pass: rolls what the committed watermark allows; undefined before any watermark. */
  async runOnce(): Promise<RollupResult | undefined> {
    const run = this.pass();
    this.running = run;
    return run;
  }

  private async pass(): Promise<RollupResult | undefined> {
    const status = await this.o.store.status();
    const W = status.consumers.find((c) => c.consumer === this.o.consumer)?.watermark;
    const cut = rollupCutoffs(W ?? -Infinity, this.o.retention, this.o.allowedLatenessMs);
    if (cut === undefined) return undefined;
    const started = Date.now();
    const r = await this.o.store.rollUp(cut.minutesBefore, cut.hoursBefore);
    const m = this.o.metrics;
    if (m) {
      m.retentionRolledRows.inc({ resolution: 'minute' }, r.minuteRowsRolled);
      m.retentionRolledRows.inc({ resolution: 'hour' }, r.hourRowsRolled);
      if (Number.isFinite(r.position.minutesFrom))
        m.retentionPosition.set({ resolution: 'minute' }, r.position.minutesFrom / 1000);
      if (Number.isFinite(r.position.hoursFrom))
        m.retentionPosition.set({ resolution: 'hour' }, r.position.hoursFrom / 1000);
    }
    if (r.hoursRolled + r.daysRolled > 0)
      this.o.logger.info(
        {
          hours: r.hoursRolled,
          days: r.daysRolled,
          minuteRows: r.minuteRowsRolled,
          hourRows: r.hourRowsRolled,
          minutesFrom: new Date(r.position.minutesFrom).toISOString(),
          ms: Date.now() - started,
        },
        'retention: rolled up',
      );
    return r;
  }

  start(intervalMs: number): void {
    this.periodic.start(intervalMs);
  }

  /** Stops the timer and waits for a run in flight. */
  async stop(): Promise<void> {
    await this.periodic.stop();
  }
}
