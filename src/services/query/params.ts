import { TallyError } from '../../core/errors.js';
import { AD_ID_RULE, isAdId } from '../../core/event/fields.js';
import { parseIsoTimestamp } from '../../core/event/time.js';
import { MINUTE_MS } from '../../core/window/minute.js';

/** Query-string parsing shared by the HTTP API and the CLI: every failure names its parameter. */

function bad(param: string, message: string): TallyError {
  return new TallyError('TALLY_BAD_PARAMETER', `${param}: ${message}`, { field: param });
}

/**
 * Times a query may name: 1970-01-01 to 9999-12-31 (UTC), so that every time an answer
 * derives from it (a minute before, a year before, a minute after) is still a four-digit
 * ISO-8601 date-time, as the API description promises.
 */
export const MIN_QUERY_TIME = 0;
export const MAX_QUERY_TIME = Date.UTC(9999, 11, 31);

function inRange(param: string, ms: number, raw: string): number {
  if (ms < MIN_QUERY_TIME || ms > MAX_QUERY_TIME) {
    throw bad(
      param,
      `must be between 1970-01-01T00:00:00Z and 9999-12-31T00:00:00Z, got "${raw.slice(0, 64)}"`,
    );
  }
  return ms;
}

/** ISO-8601 with a zone, or epoch milliseconds, from 1970 to 9999. */
export function parseTime(param: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const s = raw.trim();
  if (/^-?\d+$/.test(s)) {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw bad(param, `epoch milliseconds out of range: "${raw}"`);
    return inRange(param, n, raw);
  }
  // the same ISO-8601 rules as event times: a zone is required, impossible dates are refused
  const t = parseIsoTimestamp(s);
  if (typeof t === 'string') {
    throw bad(
      param,
      `must be ISO-8601 with a zone (e.g. 2026-11-25T10:00:00Z) or epoch ms: ${t}, got "${raw.slice(0, 64)}"`,
    );
  }
  return inRange(param, t, raw);
}

export function parseIntParam(
  param: string,
  raw: string | undefined,
  def: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim()))
    throw bad(param, `must be an integer from ${min} to ${max}, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw bad(param, `must be an integer from ${min} to ${max}, got ${n}`);
  return n;
}

export function parseAdId(raw: string | undefined, param = 'ad_id'): string {
  if (raw === undefined || !isAdId(raw)) {
    throw bad(param, `${AD_ID_RULE}, got "${String(raw).slice(0, 80)}"`);
  }
  return raw;
}

export interface TimeRange {
  from: number;
  to: number;
}

/**
 * `to` defaults to `defaultTo` (the caller's choice: the end of the last closed minute, or now),
 * `from` to `to` − `defaultMinutes` (1); ranges are half-open on minute starts.
 */
export function parseRange(
  fromRaw: string | undefined,
  toRaw: string | undefined,
  defaultTo: number,
  maxMinutes: number,
  defaultMinutes = 1,
): TimeRange {
  const to = parseTime('to', toRaw) ?? defaultTo;
  const from = parseTime('from', fromRaw) ?? to - defaultMinutes * MINUTE_MS;
  if (from > to) throw bad('from', `must not be after to (${new Date(to).toISOString()})`);
  if (to - from > maxMinutes * MINUTE_MS) {
    throw bad('from', `the range may span at most ${maxMinutes} minutes`);
  }
  return { from, to };
}
