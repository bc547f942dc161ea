/**
 * Tumbling event-time windows: UTC minutes [m, m + 60 000). A minute is named by its start.
 * Sliding "last M minutes" windows are not a second window kind: they are a merge of M
 * minute panes (see windowEnds and the top-N code).
 */
export const MINUTE_MS = 60_000;

/** The start of the minute holding `ts` (floor, so negative times land in the right minute). */
export function minuteOf(ts: number): number {
  return Math.floor(ts / MINUTE_MS) * MINUTE_MS;
}

/** The first minute start at or after `t`: the minutes m of [from, to) are [ceil(from), ceil(to)). */
export function minuteCeil(t: number): number {
  return Math.ceil(t / MINUTE_MS) * MINUTE_MS;
}

/** The exclusive end of minute `m`. */
export function minuteEnd(m: number): number {
  return m + MINUTE_MS;
}

/**
 * The ends e (multiples of a minute) of every window of `windowMinutes` minutes that holds at
 * least one of `dataMinutes` and with after < e ≤ upTo, ascending. Derived from the minutes
 * that hold data, so a jump of the watermark to +Infinity costs O(data minutes × window),
 * never a walk over empty minutes. `dataMinutes` must be sorted ascending.
 */
export function windowEnds(
  dataMinutes: readonly number[],
  windowMinutes: number,
  after: number,
  upTo: number,
): number[] {
  const out: number[] = [];
  const span = windowMinutes * MINUTE_MS;
  // the smallest minute boundary strictly after `after`
  const first = after === -Infinity ? -Infinity : minuteOf(after) + MINUTE_MS;
  let next = -Infinity; // ends below this were listed already: minutes come ascending
  for (const m of dataMinutes) {
    // the windows holding m end at m + 1 min … m + M min
    let e = Math.max(m + MINUTE_MS, next, first);
    const hi = Math.min(m + span, upTo);
    for (; e <= hi; e += MINUTE_MS) out.push(e);
    next = Math.max(next, e);
  }
  return out;
}
