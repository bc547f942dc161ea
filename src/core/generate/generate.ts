/**
 * Synthetic click traffic as NDJSON lines (`tally generate`, `--demo`, benchmarks).
 *
 * What the generator guarantees, for a given (seed, options) — the output is a pure function
 * of them:
 * - Line i has base event time `startTime + floor(i · 1000 / eventsPerSecond)`; an on-time
 *   event is up to `disorderMs` earlier than its base (out of order, within the lateness).
 * - Every line is one of four kinds (`ClickGenerator.kind` after `next()`):
 *   - `valid`: a new click that passes validateEvent for any `now` ≥ its time − maxFutureSkew.
 *     Originals are pairwise distinct events: with `event_id` they carry `e-<seed>-<n>`;
 *     without one (so the canonical id is exercised) their user_id is the unique
 *     `v-<seed>-<n>`, so no two originals share canonical content.
 *   - `duplicate`: a verbatim copy of one of the last 1024 `valid` lines (same event_id or
 *     same canonical content): it must count once.
 *   - `late`: a new, valid, distinct click whose time is `lateByMs`–2·`lateByMs` behind its
 *     base — beyond the default watermark delay + allowed lateness (15 s + 5 min).
 *   - `invalid`: fails validateEvent (bad/missing ad_id, missing or malformed timestamp,
 *     numeric-string time, unassigned country, bad ip, 50 years in the future, empty
 *     event_id, not an object, malformed JSON).
 * - So the exact count of an ad's minute is the number of its `valid` + `late` lines there;
 *   `stats` tallies the kinds.
 * - Ads are `ad-<rank>`, rank 1..ads drawn from Zipf(ads, zipfExponent): ad-1 is the hottest.
 */
import { TallyError } from '../errors.js';
import { COUNTRY_CODES } from '../event/countries.js';
import { formatIsoTimestamp } from '../event/time.js';
import { MINUTE_MS } from '../window/minute.js';
import { Prng } from './prng.js';
import { ZipfSampler } from './zipf.js';

export interface GenerateOptions {
  seed: number;
  /** lines to produce, all kinds included */
  count: number;
  /** event time of the first line, epoch ms (passed in: the core reads no clock) */
  startTime: number;
  /** distinct ads (default 10 000; benchmarks use 2 000 000) */
  ads?: number;
  /** Zipf exponent of ad popularity (default 1.05) */
  zipfExponent?: number;
  /** lines per second of event time (default 1000) */
  eventsPerSecond?: number;
  /** distinct users (default 100 000) */
  users?: number;
  /** share of users on IPv6 (default 0.15) */
  ipv6Rate?: number;
  /** default 0.03 */
  duplicateRate?: number;
  /** maximum backwards jitter of on-time events (default 30 000) */
  disorderMs?: number;
  /** default 0.001 */
  lateRate?: number;
  /** how far behind a late event is, at least (default 15 min) */
  lateByMs?: number;
  /** default 0.01 */
  invalidRate?: number;
  /** share of originals that carry event_id (default 0.9) */
  eventIdRate?: number;
  /** share of originals with unknown extra fields (default 0.02) */
  extraRate?: number;
  /** lines per yielded chunk (default 4096) */
  chunkSize?: number;
}

export type LineKind = 'valid' | 'duplicate' | 'late' | 'invalid';

export interface GenerateStats {
  lines: number;
  valid: number;
  duplicates: number;
  late: number;
  invalid: number;
}

const DUP_WINDOW = 1024;
const YEARS_50_MS = 50 * 365 * 86_400_000;

/** Rough shares of ad traffic by country; the rest is spread over every assigned code. */
const COUNTRY_WEIGHTS: ReadonlyArray<readonly [string, number]> = [
  ['US', 28], ['IN', 9], ['BR', 6], ['GB', 5], ['DE', 5], ['JP', 4], ['FR', 4], ['CA', 3],
  ['MX', 3], ['ID', 3], ['IT', 2], ['ES', 2], ['KR', 2], ['AU', 2], ['TR', 2], ['PH', 2],
  ['VN', 2], ['NG', 1], ['EG', 1], ['PL', 1], ['NL', 1], ['AR', 1], ['TH', 1], ['ZA', 1],
  ['SE', 1], ['CO', 1], ['SA', 1], ['PK', 1],
]; // prettier-ignore
const REST_OF_WORLD_WEIGHT = 4;
/** share of events without a country */
const NO_COUNTRY_WEIGHT = 5;
const COUNTRY_TABLE_SIZE = 4096;

/** A lookup table: a uniform index in [0, 4096) → a country ('' = none), by weight. */
function buildCountryTable(): string[] {
  const entries: Array<[string, number]> = COUNTRY_WEIGHTS.map(([c, w]) => [c, w]);
  const restEach = REST_OF_WORLD_WEIGHT / COUNTRY_CODES.length;
  for (const c of COUNTRY_CODES) entries.push([c, restEach]);
  entries.push(['', NO_COUNTRY_WEIGHT]);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  const table: string[] = [];
  let acc = 0;
  let e = 0;
  for (let i = 0; i < COUNTRY_TABLE_SIZE; i++) {
    const target = ((i + 0.5) / COUNTRY_TABLE_SIZE) * total;
    while (e < entries.length - 1 && acc + entries[e]![1] < target) acc += entries[e++]![1];
    table.push(entries[e]![0]);
  }
  return table;
}

const COUNTRY_TABLE = buildCountryTable();

const DIGITS3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * Decimal text of a non-negative integer epoch ms. V8 renders integers above 2^31 through its
 * double printer, an order of magnitude slower than two small-integer table lookups.
 */
function epochText(t: number): string {
  if (t < 1_000_000) return String(t);
  const hi = Math.floor(t / 1_000_000);
  const rest = t - hi * 1_000_000;
  const mid = Math.floor(rest / 1000);
  return String(hi) + DIGITS3[mid]! + DIGITS3[rest - mid * 1000]!;
}

/** a 32-bit integer mix (murmur3's finaliser), for per-user attributes */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function checkRate(name: string, v: number): number {
  if (!(v >= 0 && v <= 1)) {
    throw new TallyError('TALLY_BAD_PARAMETER', `${name}: must be a rate in [0, 1], got ${v}`, {
      field: name,
    });
  }
  return v;
}

function checkCount(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new TallyError('TALLY_BAD_PARAMETER', `${name}: must be an integer ≥ ${min}, got ${v}`, {
      field: name,
    });
  }
  return v;
}

/** Produces one line per `next()`; `kind` tells what the last line was. */
export class ClickGenerator {
  readonly stats: GenerateStats = { lines: 0, valid: 0, duplicates: 0, late: 0, invalid: 0 };
  kind: LineKind = 'valid';

  private readonly rng: Prng;
  private readonly zipf: ZipfSampler;
  private readonly seed: number;
  private readonly startTime: number;
  private readonly msPerLine: number;
  private readonly users: number;
  private readonly ipv6Threshold: number;
  private readonly userSalt: number;
  private readonly invalidCut: number;
  private readonly duplicateCut: number;
  private readonly lateCut: number;
  private readonly disorderMs: number;
  private readonly lateByMs: number;
  private readonly eventIdRate: number;
  private readonly extraRate: number;
  private readonly recent: string[] = [];
  private originals = 0;

  constructor(opts: GenerateOptions) {
    this.seed = opts.seed >>> 0;
    this.rng = new Prng(this.seed);
    if (!Number.isFinite(opts.startTime) || opts.startTime < 0) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `startTime: must be epoch ms ≥ 0, got ${opts.startTime}`,
        {
          field: 'startTime',
        },
      );
    }
    this.startTime = Math.floor(opts.startTime);
    const eps = opts.eventsPerSecond ?? 1000;
    if (!(eps > 0) || !Number.isFinite(eps)) {
      throw new TallyError('TALLY_BAD_PARAMETER', `eventsPerSecond: must be > 0, got ${eps}`, {
        field: 'eventsPerSecond',
      });
    }
    this.msPerLine = 1000 / eps;
    this.zipf = new ZipfSampler(
      checkCount('ads', opts.ads ?? 10_000, 1),
      opts.zipfExponent ?? 1.05,
    );
    this.users = checkCount('users', opts.users ?? 100_000, 1);
    this.ipv6Threshold = checkRate('ipv6Rate', opts.ipv6Rate ?? 0.15) * 4294967296;
    this.userSalt = mix32(this.seed ^ 0x5bd1e995);
    const invalid = checkRate('invalidRate', opts.invalidRate ?? 0.01);
    const dup = checkRate('duplicateRate', opts.duplicateRate ?? 0.03);
    const late = checkRate('lateRate', opts.lateRate ?? 0.001);
    if (invalid + dup + late > 1) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        'invalidRate + duplicateRate + lateRate must not exceed 1',
        {
          field: 'invalidRate',
        },
      );
    }
    this.invalidCut = invalid;
    this.duplicateCut = invalid + dup;
    this.lateCut = invalid + dup + late;
    this.disorderMs = checkCount('disorderMs', opts.disorderMs ?? 30_000, 0);
    this.lateByMs = checkCount('lateByMs', opts.lateByMs ?? 15 * MINUTE_MS, 1);
    this.eventIdRate = checkRate('eventIdRate', opts.eventIdRate ?? 0.9);
    this.extraRate = checkRate('extraRate', opts.extraRate ?? 0.02);
  }

  /** The next NDJSON line (without a line break). */
  next(): string {
    const i = this.stats.lines++;
    const base = this.startTime + Math.floor(i * this.msPerLine);
    const r = this.rng.next();
    let line: string;
    if (r < this.invalidCut) {
      this.kind = 'invalid';
      this.stats.invalid++;
      line = this.invalidLine(base);
    } else if (r < this.duplicateCut && this.recent.length > 0) {
      this.kind = 'duplicate';
      this.stats.duplicates++;
      line = this.recent[this.rng.int(this.recent.length)]!;
    } else if (r < this.lateCut) {
      this.kind = 'late';
      this.stats.late++;
      const t = base - this.lateByMs - this.rng.int(this.lateByMs);
      line = this.original(Math.max(0, t));
    } else {
      this.kind = 'valid';
      this.stats.valid++;
      const t = this.disorderMs > 0 ? base - this.rng.int(this.disorderMs + 1) : base;
      line = this.original(Math.max(0, t));
      if (this.recent.length < DUP_WINDOW) this.recent.push(line);
      else this.recent[i % DUP_WINDOW] = line;
    }
    return line;
  }

  private timeField(t: number): string {
    const r = this.rng.int(100);
    if (r < 80) return `"timestamp":${epochText(t)}`;
    if (r < 88) return `"timestamp":"${formatIsoTimestamp(t)}"`;
    if (r < 90) return `"timestamp":"${formatIsoTimestamp(t + 7_200_000).slice(0, -1)}+02:00"`;
    return `"click_timestamp":${epochText(t)}`;
  }

  private ipOf(user: number): string {
    const h = mix32(user ^ this.userSalt);
    if (mix32(h) < this.ipv6Threshold) {
      return `2001:db8:${(h >>> 16).toString(16)}:${(h & 0xffff).toString(16)}::${(user & 0xffff).toString(16)}`;
    }
    // first octet 1–223 (unicast), the rest from the hash
    return `${1 + (h % 223)}.${(h >>> 8) & 255}.${(h >>> 16) & 255}.${h >>> 24}`;
  }

  /** a new, valid, distinct click at time t */
  private original(t: number): string {
    const n = this.originals++;
    const rng = this.rng;
    let line = `{"ad_id":"ad-${this.zipf.sample(rng)}",${this.timeField(t)}`;
    let user = -1;
    if (rng.next() < this.eventIdRate) {
      line += `,"event_id":"e-${this.seed}-${n}"`;
      if (rng.int(10) !== 0) {
        user = rng.int(this.users);
        line += `,"user_id":"u-${user}"`;
      }
    } else {
      // no event_id: a unique visitor id keeps the canonical content of originals distinct
      line += `,"user_id":"v-${this.seed}-${n}"`;
    }
    const ipDraw = rng.int(100);
    if (ipDraw < 85) line += `,"ip":"${this.ipOf(user >= 0 ? user : rng.nextU32())}"`;
    const country = COUNTRY_TABLE[rng.int(COUNTRY_TABLE_SIZE)]!;
    if (country !== '') line += `,"country":"${ipDraw < 2 ? country.toLowerCase() : country}"`;
    if (rng.next() < this.extraRate) line += `,"campaign":"c-${rng.int(97)}","ua":"Mozilla/5.0"`;
    return line + '}';
  }

  /** a line validateEvent must refuse, of one of several kinds */
  private invalidLine(base: number): string {
    const rng = this.rng;
    const ad = `"ad_id":"ad-${this.zipf.sample(rng)}"`;
    switch (rng.int(12)) {
      case 0:
        return `{"ad_id":"ad ${rng.int(1000)}!","timestamp":${base}}`;
      case 1:
        return `{"ad_id":"${'x'.repeat(65)}","timestamp":${base}}`;
      case 2:
        return `{"timestamp":${base},"country":"US"}`;
      case 3:
        return `{${ad},"country":"US"}`;
      case 4:
        return `{${ad},"timestamp":"${formatIsoTimestamp(base).slice(0, -1)}"}`;
      case 5:
        return `{${ad},"timestamp":"${base}"}`;
      case 6:
        return `{${ad},"timestamp":${base},"country":"${['XX', 'UK', 'EU', 'USA'][rng.int(4)]}"}`;
      case 7:
        return `{${ad},"timestamp":${base},"ip":"${['999.1.1.1', '01.2.3.4', 'fe80::1%eth0', 'not-an-ip', '1::2::3'][rng.int(5)]}"}`;
      case 8:
        return `{${ad},"timestamp":${base + YEARS_50_MS}}`;
      case 9:
        return `{${ad},"timestamp":${base},"event_id":""}`;
      case 10:
        return rng.int(2) === 0 ? `[{${ad},"timestamp":${base}}]` : `"click"`;
      default: {
        const whole = `{${ad},"timestamp":${base},"event_id":"e-bad-${this.stats.lines}"}`;
        return whole.slice(0, whole.length - 1 - rng.int(10));
      }
    }
  }
}

/** The lines of a generation run in chunks of `chunkSize`; returns the stats at the end. */
export function* generateClicks(
  opts: GenerateOptions,
): Generator<string[], GenerateStats, undefined> {
  const gen = new ClickGenerator(opts);
  const count = checkCount('count', opts.count, 0);
  const size = checkCount('chunkSize', opts.chunkSize ?? 4096, 1);
  let left = count;
  while (left > 0) {
    const n = Math.min(size, left);
    const chunk = new Array<string>(n);
    for (let k = 0; k < n; k++) chunk[k] = gen.next();
    left -= n;
    yield chunk;
  }
  return gen.stats;
}

/** The same run as NDJSON text chunks, each ending with a line break. */
export function* generateNdjson(
  opts: GenerateOptions,
): Generator<string, GenerateStats, undefined> {
  const it = generateClicks(opts);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
    yield r.value.join('\n') + '\n';
  }
}
