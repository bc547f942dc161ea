/**
 * The brute-force oracle of the counting semantics (see the comment at the top of
 * src/core/operator/aggregator.ts): plain Maps and strings, everything recomputed from
 * scratch, nothing ever dropped. Slow and obviously correct; the engine must agree with it
 * call for call.
 */
import type { ClickEvent } from '../../../src/core/event/types.js';
import type {
  Dimension,
  LateEvent,
  MinuteRow,
  RankedAd,
  TopRow,
} from '../../../src/core/aggregate/types.js';
import type { AggregatorConfig, OperatorOutput } from '../../../src/core/operator/aggregator.js';
import { MINUTE_MS as MIN } from '../../../src/core/window/minute.js';
import { TOP_LIST_DIMENSIONS } from '../../../src/core/aggregate/dimensions.js';

function minuteOf(ts: number): number {
  return Math.floor(ts / MIN) * MIN;
}

function dimValue(ev: ClickEvent, d: Dimension): string | undefined {
  return d === 'country' ? ev.country : d === 'user_id' ? ev.userId : ev.ip;
}

/** row key within a minute */
function rowKey(adId: string, dim: string): string {
  return `${adId}\u0000${dim}`;
}

export class Oracle {
  W = -Infinity;
  private readonly maxTs: (number | undefined)[];
  private readonly lastArrival: (number | undefined)[];
  /** `${adId}\0${eventId}` → expiry */
  private readonly remembered = new Map<string, number>();
  /** minute → row key → count */
  private readonly counts = new Map<number, Map<string, number>>();
  private readonly emittedMinutes = new Set<number>();
  /** minute → row keys counted since the last onWatermark */
  private changed = new Map<number, Set<string>>();
  private readonly emittedTops = new Set<string>();
  private out: OperatorOutput = emptyOutput();

  constructor(
    private readonly cfg: AggregatorConfig,
    partitions: number,
    /** wall clock at start: the all-idle rule waits idleTimeout from here before any event */
    private readonly startedAt: number,
  ) {
    this.maxTs = new Array<number | undefined>(partitions).fill(undefined);
    this.lastArrival = new Array<number | undefined>(partitions).fill(undefined);
  }

  onEvents(partition: number, events: ClickEvent[], firstOffset: number, now: number): void {
    events.forEach((ev, i) => {
      const key = `${ev.adId}\u0000${ev.eventId}`;
      const exp = this.remembered.get(key);
      if (exp !== undefined && exp > this.W) {
        this.out.stats.duplicates++;
        return;
      }
      this.remembered.set(key, ev.timestamp + this.cfg.dedupHorizonMs);
      this.out.stats.events++;
      this.maxTs[partition] = Math.max(this.maxTs[partition] ?? -Infinity, ev.timestamp);
      const m = minuteOf(ev.timestamp);
      if (m + MIN + this.cfg.allowedLatenessMs <= this.W) {
        this.out.stats.late++;
        this.out.late.push({
          partition,
          offset: firstOffset + i,
          event: ev,
          watermark: this.W,
          arrivedAt: now,
        });
        return;
      }
      const dims = ['*'];
      for (const d of this.cfg.dimensions) {
        const v = dimValue(ev, d);
        if (v !== undefined) dims.push(`${d}=${v}`);
      }
      let minute = this.counts.get(m);
      if (minute === undefined) this.counts.set(m, (minute = new Map()));
      let changed = this.changed.get(m);
      if (changed === undefined) this.changed.set(m, (changed = new Set()));
      for (const dim of dims) {
        const k = rowKey(ev.adId, dim);
        minute.set(k, (minute.get(k) ?? 0) + 1);
        changed.add(k);
      }
    });
    if (events.length > 0) this.lastArrival[partition] = now;
  }

  computeWatermark(now: number): number {
    let min = Infinity;
    let active = 0;
    for (let p = 0; p < this.maxTs.length; p++) {
      const arrival = this.lastArrival[p];
      if (arrival === undefined || now - arrival >= this.cfg.idleTimeoutMs) continue;
      active++;
      const max = this.maxTs[p];
      min = Math.min(min, max === undefined ? -Infinity : max - this.cfg.watermarkDelayMs);
    }
    if (active > 0) return Math.max(this.W, min);
    const arrivals = this.lastArrival.filter((a): a is number => a !== undefined);
    const quietSince = Math.max(this.startedAt, ...arrivals);
    return now - quietSince >= this.cfg.idleTimeoutMs
      ? Math.max(this.W, now - this.cfg.watermarkDelayMs)
      : this.W;
  }

  onWatermark(wm: number): void {
    // the dimension values counted into minutes closed when they were counted (corrections)
    const correctedValues = new Set<string>();
    for (const [m, keys] of this.changed)
      if (m + MIN <= this.W)
        for (const k of keys) {
          const dim = k.split('\u0000')[1]!;
          if (dim !== '*') correctedValues.add(dim);
        }
    if (wm > this.W) this.W = wm;
    const W = this.W;
    const minutes = [...this.counts.keys()].sort((a, b) => a - b);
    for (const m of minutes) {
      if (m + MIN > W) continue;
      const all = this.counts.get(m)!;
      const keys = this.emittedMinutes.has(m) ? (this.changed.get(m) ?? new Set()) : all.keys();
      this.emittedMinutes.add(m);
      for (const k of keys) {
        const [adId, dim] = k.split('\u0000') as [string, string];
        this.out.rows.push({ minute: m, adId, dim, count: all.get(k)! });
      }
    }
    const tops: TopRow[] = [];
    for (const M of this.cfg.topWindows) {
      const ends = new Set<number>();
      for (const m of minutes)
        for (let k = 1; k <= M; k++) if (m + k * MIN <= W) ends.add(m + k * MIN);
      for (const e of ends) {
        const id = `${M}:${e}`;
        let touched = !this.emittedTops.has(id);
        for (const m of this.changed.keys()) if (m >= e - M * MIN && m < e) touched = true;
        if (!touched) continue;
        const first = !this.emittedTops.has(id);
        this.emittedTops.add(id);
        tops.push({ windowMinutes: M, endMinute: e, ads: this.topOf(e - M * MIN, e) });
        // per dimension value: every value with events in the window when the end first
        // closes; after that, the values corrections touched (anywhere), if in the window
        if (this.cfg.dimensions.length === 0) continue;
        for (const [dim, ads] of this.topsByValue(e - M * MIN, e)) {
          if (!first && !correctedValues.has(dim)) continue;
          // lists for the dimensions whose values are a closed set only (country)
          if (!TOP_LIST_DIMENSIONS.some((d) => dim.startsWith(`${d}=`))) continue;
          tops.push({ windowMinutes: M, endMinute: e, dim, ads });
        }
      }
    }
    const dimOf = (t: TopRow) => t.dim ?? '*';
    tops.sort(
      (a, b) =>
        a.endMinute - b.endMinute ||
        a.windowMinutes - b.windowMinutes ||
        (dimOf(a) < dimOf(b) ? -1 : dimOf(a) > dimOf(b) ? 1 : 0),
    );
    this.out.top.push(...tops);
    this.changed = new Map();
  }

  /** exact top N over minutes [from, to) of every dimension value (`country=US`) with events */
  topsByValue(from: number, to: number): Map<string, RankedAd[]> {
    const totals = new Map<string, Map<string, number>>();
    for (const [m, rows] of this.counts) {
      if (m < from || m >= to) continue;
      for (const [k, c] of rows) {
        const [adId, dim] = k.split('\u0000') as [string, string];
        if (dim === '*') continue;
        let t = totals.get(dim);
        if (t === undefined) totals.set(dim, (t = new Map()));
        t.set(adId, (t.get(adId) ?? 0) + c);
      }
    }
    const out = new Map<string, RankedAd[]>();
    for (const [dim, t] of totals) out.set(dim, this.ranked(t));
    return out;
  }

  /** exact top N over minutes [from, to) of the events with `dim` ('*': all), by sorting every ad */
  topOf(from: number, to: number, dim = '*'): RankedAd[] {
    const totals = new Map<string, number>();
    for (const [m, rows] of this.counts) {
      if (m < from || m >= to) continue;
      for (const [k, c] of rows) {
        const [adId, d] = k.split('\u0000') as [string, string];
        if (d === dim) totals.set(adId, (totals.get(adId) ?? 0) + c);
      }
    }
    return this.ranked(totals);
  }

  private ranked(totals: Map<string, number>): RankedAd[] {
    return [...totals]
      .map(([adId, count]) => ({ adId, count }))
      .sort((a, b) => b.count - a.count || (a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0))
      .slice(0, this.cfg.topN);
  }

  /** every (minute, ad, dim) count ever made: what the rows must converge to after a drain */
  finalCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [m, rows] of this.counts) for (const [k, c] of rows) out.set(`${m}\u0000${k}`, c);
    return out;
  }

  takeOutput(): OperatorOutput {
    const out = this.out;
    this.out = emptyOutput();
    return out;
  }
}

function emptyOutput(): OperatorOutput {
  return {
    rows: [] as MinuteRow[],
    top: [] as TopRow[],
    late: [] as LateEvent[],
    stats: { events: 0, duplicates: 0, late: 0 },
  };
}

/** Rows in a canonical order, for comparing one call's output (row order is unspecified). */
export function sortRows(rows: readonly MinuteRow[]): MinuteRow[] {
  return [...rows].sort(
    (a, b) =>
      a.minute - b.minute ||
      (a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0) ||
      (a.dim < b.dim ? -1 : a.dim > b.dim ? 1 : 0),
  );
}

/** The last emitted absolute count per (minute, ad, dim), folding outputs in order. */
export function foldRows(into: Map<string, number>, rows: readonly MinuteRow[]): void {
  for (const r of rows) into.set(`${r.minute}\u0000${r.adId}\u0000${r.dim}`, r.count);
}
