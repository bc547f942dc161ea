/**
 * `freshness`: how long after a minute's end its final count is queryable.
 *
 * An embedded app (durable log, SQLite store, aggregator loop) is fed live traffic timestamped
 * "now" (up to half the watermark delay out of order), in small batches every 50 ms, and one
 * probe ad gets a known number of clicks in every minute. For each measured minute boundary
 * b, the count of the probe's minute [b − 60 s, b) is polled through the QueryService every
 * 5 ms; the figure is the delay from b + watermarkDelay (the earliest moment the SPEC lets the
 * minute close) to the first poll that returns the exact final count. Target: ≤ 1 s.
 *
 * Minutes are real minutes, so waiting for boundaries would take a minute each: the app's
 * clock is the system clock plus an offset that is moved FORWARD before each boundary so that
 * a few seconds of traffic lead up to it. The offset changes the phase, never the rate: every
 * delay measured is real time. (Forward only: event time never goes backwards.)
 */
import { openEmbedded } from '../src/app/embedded.js';
import type { ParsedRecord } from '../src/core/event/parse-body.js';
import { Prng, ZipfSampler } from '../src/core/generate/index.js';
import type { Clock } from '../src/ports/clock.js';
import { distribution, row, say, sleep, type BenchContext, type BenchRow } from './harness.js';

const MINUTE = 60_000;
const PROBE = 'freshness-probe';
const TICK_MS = 50;

export async function benchFreshness(ctx: BenchContext): Promise<BenchRow[]> {
  // quick: a small delay and commit interval, so three boundaries fit in a few seconds each
  const aggregation = ctx.quick
    ? { watermarkDelayMs: 1_000, commitIntervalMs: 200 }
    : {
        watermarkDelayMs: ctx.config.aggregation.watermarkDelayMs,
        commitIntervalMs: ctx.config.aggregation.commitIntervalMs,
      };
  const boundaries = ctx.smoke ? 1 : ctx.quick ? 3 : 4;
  const leadMs = ctx.quick ? 1_500 : 5_000;
  const eventsPerSecond = ctx.quick ? 5_000 : 10_000;
  const dataDir = await ctx.newDataDir('freshness');
  const config = ctx.appConfig(dataDir, { aggregation });
  const delay = config.aggregation.watermarkDelayMs;
  const jitterMax = Math.min(500, Math.floor(delay / 2));

  let offset = 0;
  const clock: Clock = { now: () => Date.now() + offset };
  const app = await openEmbedded(config, { logger: ctx.logger, clock });
  app.runner.start();

  const expected = new Map<number, number>();
  const rng = new Prng(5);
  const zipf = new ZipfSampler(100_000, 1.05);
  let seq = 0;
  let feeding = true;
  let fed = 0;
  const perTick = Math.max(1, Math.round((eventsPerSecond * TICK_MS) / 1000));
  const feeder = (async () => {
    while (feeding) {
      const t0 = performance.now();
      const now = clock.now();
      const records: ParsedRecord[] = [];
      const probeMinutes: number[] = [];
      for (let i = 0; i < perTick; i++) {
        const ts = now - rng.int(jitterMax + 1);
        const probe = i === 0;
        if (probe) probeMinutes.push(Math.floor(ts / MINUTE) * MINUTE);
        records.push({
          ok: true,
          index: i,
          line: 0,
          value: {
            ad_id: probe ? PROBE : `ad-${zipf.sample(rng)}`,
            timestamp: ts,
            event_id: `f-${seq++}`,
            country: 'US',
          },
          raw: undefined,
        });
      }
      const r = await app.ingest.ingest(records, 'bench-freshness');
      if (r.rejected.length === 0) {
        for (const m of probeMinutes) expected.set(m, (expected.get(m) ?? 0) + 1);
      }
      fed += r.accepted;
      const wait = TICK_MS - (performance.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  })();

  const delays: number[] = [];
  const sinceEnd: number[] = [];
  const mismatches: string[] = [];
  try {
    for (let k = 0; k < boundaries; k++) {
      // move the clock forward so that the next boundary is `leadMs` away
      const b = Math.ceil((clock.now() + leadMs) / MINUTE) * MINUTE;
      offset += b - leadMs - clock.now();
      const minute = b - MINUTE;
      const due = b + delay;
      say(
        `freshness: boundary ${k + 1}/${boundaries} (${new Date(b).toISOString()} on the app's clock)`,
      );
      const from = String(minute);
      const to = String(b);
      const deadline = due + delay + 30_000;
      let finalAt: number | undefined;
      let last = NaN;
      while (clock.now() < deadline) {
        const now = clock.now();
        if (now >= due - 200) {
          last = (await app.query.count(PROBE, { from, to })).count;
          const want = expected.get(minute) ?? 0;
          if (want > 0 && last === want && now >= b) {
            finalAt = clock.now();
            break;
          }
          await sleep(5);
        } else {
          await sleep(Math.min(100, due - 200 - now));
        }
      }
      if (finalAt === undefined) {
        mismatches.push(
          `${new Date(minute).toISOString()}: ${last} of ${expected.get(minute) ?? 0}`,
        );
        continue;
      }
      delays.push(finalAt - due);
      sinceEnd.push(finalAt - b);
      // the count must stay final (no correction may follow: every probe click was on time)
      await sleep(Math.min(2 * aggregation.commitIntervalMs, 2_000));
      const again = (await app.query.count(PROBE, { from, to })).count;
      if (again !== expected.get(minute)) {
        mismatches.push(`${new Date(minute).toISOString()}: changed to ${again} after final`);
      }
    }
  } finally {
    feeding = false;
    await feeder;
    await app.close();
    await ctx.discard(dataDir);
  }
  const d = distribution(delays);
  const e = distribution(sinceEnd);
  const n = 'freshness';
  const cfgNote = `watermarkDelayMs ${delay}, commitIntervalMs ${config.aggregation.commitIntervalMs}${ctx.quick ? ' (quick config)' : ''}`;
  const r1 = (v: number) => Math.round(v);
  return [
    row(
      n,
      'final_after_watermark_p50',
      r1(d.p50),
      'ms',
      `after minute end + watermark delay; ${cfgNote}`,
    ),
    row(n, 'final_after_watermark_max', r1(d.max), 'ms', `over ${d.count} minute boundaries`),
    row(n, 'final_after_watermark_min', r1(d.min), 'ms'),
    row(n, 'final_after_minute_end_p50', r1(e.p50), 'ms', 'watermark delay included'),
    row(n, 'minutes_measured', d.count, 'minutes'),
    row(
      n,
      'minutes_not_final',
      mismatches.length,
      'minutes',
      mismatches.length > 0
        ? mismatches.join('; ')
        : 'every measured minute reached its exact count',
    ),
    row(n, 'events_fed', fed, 'events', `${eventsPerSecond} events/s, event time = now`),
  ];
}
