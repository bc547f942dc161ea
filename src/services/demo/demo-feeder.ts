import type { Config } from '../../config/index.js';
import { parseNdjsonLine, type ParsedRecord } from '../../core/event/parse-body.js';
import { ClickGenerator } from '../../core/generate/index.js';
import { MINUTE_MS } from '../../core/window/minute.js';
import type { Clock } from '../../ports/clock.js';
import type { IngestService } from '../ingest/ingest-service.js';
import type { Logger } from '../observability/logger.js';

const TICK_MS = 100;
/** the demo starts with this much history, so closed minutes show at once */
const BACKFILL_MS = 2 * MINUTE_MS;

/**
 * `tally start --demo`: synthetic clicks at the wall clock, through the same ingest path as
 * HTTP, so the dashboard moves within seconds. Line i carries event time start + i/rate, and
 * a tick sends every line whose time has come — the feed follows the clock, never ahead.
 */
export class DemoFeeder {
  private timer: NodeJS.Timeout | undefined;
  private gen: ClickGenerator | undefined;
  private sent = 0;
  private startTime = 0;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ingest: IngestService,
    private readonly opts: Config['demo'],
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.startTime = this.clock.now() - BACKFILL_MS;
    this.gen = new ClickGenerator({
      seed: this.opts.seed,
      count: Number.MAX_SAFE_INTEGER,
      startTime: this.startTime,
      ads: this.opts.ads,
      eventsPerSecond: this.opts.eventsPerSecond,
      // a little of every kind of trouble, so dedup, lateness and dead letters show too
      duplicateRate: 0.02,
      lateRate: 0.0005,
      invalidRate: 0.001,
      disorderMs: 5_000,
    });
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    const gen = this.gen;
    if (!gen) return;
    const due = Math.floor(
      ((this.clock.now() - this.startTime) * this.opts.eventsPerSecond) / 1000,
    );
    // the backfill goes at once; later a stalled loop catches up at most 1 s at a time
    const catchUp = this.sent === 0 ? due : this.opts.eventsPerSecond;
    const n = Math.min(due - this.sent, catchUp);
    if (n <= 0) return;
    const records: ParsedRecord[] = new Array(n);
    for (let i = 0; i < n; i++) records[i] = parseNdjsonLine(gen.next(), i, 0);
    this.sent += n;
    this.busy = this.busy
      .then(() => this.ingest.ingest(records, 'demo'))
      .catch((err: unknown) => this.logger.warn({ err }, 'demo batch not ingested'));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.busy;
  }
}
