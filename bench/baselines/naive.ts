/**
 * Baseline: the loop anyone would write first, in the same Node process. Read the file,
 * `JSON.parse` each line, count in a `Map` keyed by (ad, minute). One thread, nothing
 * durable, no validation beyond "has an ad_id and a time", no dedup, no watermark. What
 * Tally's guarantees cost is the gap to this line (when Tally is the slower one).
 */
import { createReadStream } from 'node:fs';
import type { BaselineRun } from './duckdb.js';

const MINUTE = 60_000;

function eventTime(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Date.parse(v);
  return NaN;
}

export async function naiveCount(file: string): Promise<BaselineRun> {
  const t0 = performance.now();
  const counts = new Map<string, number>();
  let counted = 0;
  let rest = '';
  const count = (line: string) => {
    if (line.length === 0) return;
    let o: { ad_id?: unknown; timestamp?: unknown; click_timestamp?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      return;
    }
    if (typeof o !== 'object' || o === null || typeof o.ad_id !== 'string') return;
    const t = eventTime(o.timestamp ?? o.click_timestamp);
    if (!Number.isFinite(t)) return;
    const key = `${o.ad_id}|${Math.floor(t / MINUTE)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    counted++;
  };
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const text = rest + (chunk as string);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      count(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  count(rest);
  return { ms: performance.now() - t0, groups: counts.size, counted };
}
