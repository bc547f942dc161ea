/**
 * A brute-force oracle of the reconciled counts (docs/architecture.md, "Reconciled counts"):
 * per dedup key, in (event time, ingest order) order, the first event counts, and a later one
 * counts again only once its minute starts at or after the last counted one's time + the
 * horizon. Written independently of DuckDB's SQL and of ClickAggregator.
 */
import { MINUTE_MS, minuteOf } from '../../src/core/window/minute.js';

export interface OracleEvent {
  ad_id: string;
  timestamp: number;
  event_id?: string;
  user_id?: string;
  ip?: string;
  country?: string;
}

export function keyOf(e: OracleEvent): string {
  const id =
    e.event_id ??
    JSON.stringify([e.ad_id, e.timestamp, e.user_id ?? null, e.ip ?? null, e.country ?? null]);
  return `${e.ad_id}\u0000${id}`;
}

/** The events that count, in ingest order of `events` (filter applied first, as raw queries do). */
export function countedEvents(
  events: readonly OracleEvent[],
  horizonMs: number,
  keep: (e: OracleEvent) => boolean = () => true,
): OracleEvent[] {
  const order = events
    .map((e, seq) => ({ e, seq }))
    .filter(({ e }) => keep(e))
    .sort((a, b) => a.e.timestamp - b.e.timestamp || a.seq - b.seq);
  const anchor = new Map<string, number>();
  const out: OracleEvent[] = [];
  for (const { e } of order) {
    const k = keyOf(e);
    const a = anchor.get(k);
    if (a !== undefined && a + horizonMs > minuteOf(e.timestamp)) continue;
    anchor.set(k, e.timestamp);
    out.push(e);
  }
  return out;
}

/** `minute|dim|ad` → count, for '*' and each of `dims` (as `country=US`). */
export function rowCounts(
  counted: readonly OracleEvent[],
  dims: readonly string[],
): Map<string, number> {
  const out = new Map<string, number>();
  const bump = (k: string) => out.set(k, (out.get(k) ?? 0) + 1);
  for (const e of counted) {
    const m = minuteOf(e.timestamp);
    bump(`${m}|*|${e.ad_id}`);
    for (const d of dims) {
      const v = (e as unknown as Record<string, unknown>)[d];
      if (typeof v === 'string') bump(`${m}|${d}=${v}|${e.ad_id}`);
    }
  }
  return out;
}

/** Exact top n over the minutes [end − window, end) of `dim` rows, ties by ad_id ascending. */
export function topOf(
  rows: ReadonlyMap<string, number>,
  windowMinutes: number,
  end: number,
  n: number,
  of = '*',
): Array<{ adId: string; count: number }> {
  const sums = new Map<string, number>();
  for (const [k, c] of rows) {
    const [m, dim, ad] = k.split('|') as [string, string, string];
    const minute = Number(m);
    if (dim !== of || minute < end - windowMinutes * MINUTE_MS || minute >= end) continue;
    sums.set(ad, (sums.get(ad) ?? 0) + c);
  }
  return [...sums]
    .map(([adId, count]) => ({ adId, count }))
    .sort((a, b) => b.count - a.count || (a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0))
    .slice(0, n);
}
