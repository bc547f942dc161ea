/**
 * SPEC §1: a parsed JSON value → a ClickEvent, or a Rejection naming the field. Never throws.
 *
 * Decisions where the SPEC is silent:
 * - `timestamp` and `click_timestamp` both present: accepted only when they denote the same
 *   instant (e.g. one ISO, one epoch ms); otherwise rejected on `click_timestamp`.
 * - Epoch ms must be a JSON number, a non-negative integer (no rounding of fractions); a
 *   numeric string is a type error. ISO times must carry an offset; times before 1970 are refused.
 * - Lengths ("chars") count Unicode code points, so an emoji is one character.
 * - `user_id` may be the empty string (≤ 128 has no minimum); it is then present, not absent.
 * - `country` is upper-cased, then must be one of the 249 assigned alpha-2 codes.
 * - `ip` is stored canonical (see ip.ts), so the canonical id and ip filters see one spelling.
 * - `null` for any optional field (and for the time fields) means absent.
 * - Unknown fields become `extra`, JSON object text in the record's key order (JavaScript
 *   puts integer-like keys first); a value that is not JSON (undefined) is dropped.
 *
 * The field rules live in `validateFields`, over the known fields' values as JSON.parse gives
 * them: the object path (validateEvent) and the byte scanner (scan.ts / encode-batch.ts) both
 * call it, so a rejection has one source whichever path found it. Names, limits, rules and
 * normalisations come from the field table (fields.ts), which the scanner's fast accept
 * checks read too.
 */
import { rejection, type ErrorCode, type Rejection } from '../errors.js';
import type { ClickEvent, ValidationOptions } from './types.js';
import { canonicalEventId } from './identity.js';
import { formatIsoTimestamp, parseIsoTimestamp } from './time.js';
import {
  AD_ID_MAX,
  AD_ID_RULE,
  FIELD,
  FIELDS,
  KNOWN_FIELD_NAMES,
  TIME_RULE,
  isAdIdChar,
  type FieldKey,
  type FieldSpec,
} from './fields.js';
import { isWellFormed } from './utf8.js';
import { checkRecordLimits, hasNonFiniteNumber } from './record-limits.js';
import { MINUTE_MS } from '../window/minute.js';

export type ValidationResult =
  { ok: true; event: ClickEvent } | { ok: false; rejection: Rejection };

export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * MINUTE_MS;

const KNOWN_FIELDS: ReadonlySet<string> = new Set(KNOWN_FIELD_NAMES);

/** the largest epoch ms JavaScript dates can hold; beyond it a time is not a time */
export const MAX_EPOCH_MS = 8.64e15;
const ECHO_MAX = 40;

function fail(code: ErrorCode, field: string | undefined, message: string): ValidationResult {
  return { ok: false, rejection: rejection(code, field, message) };
}

/** A short, safe rendering of an offending value for messages. */
export function echo(value: unknown): string {
  let text: string;
  if (typeof value === 'string') {
    const cut = [...value.slice(0, ECHO_MAX * 2)];
    text = JSON.stringify(cut.length > ECHO_MAX ? cut.slice(0, ECHO_MAX).join('') + '…' : value);
  } else if (value === null) {
    text = 'null';
  } else if (Array.isArray(value)) {
    text = 'an array';
  } else if (typeof value === 'object') {
    text = 'an object';
  } else if (typeof value === 'number' || typeof value === 'boolean') {
    text = String(value);
  } else {
    text = typeof value;
  }
  return text;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Unicode code points of `s`, counted only as far as needed to compare with `max`. */
function exceedsCodePoints(s: string, max: number): boolean {
  if (s.length <= max) return false;
  if (s.length > 2 * max) return true;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    if (++n > max) return true;
  }
  return false;
}

const UNICODE_RULE = 'must be valid Unicode text (it holds an unpaired surrogate)';
const CONTROL_RULE = 'must not hold control characters (U+0000–U+001F, U+007F–U+009F)';

/** Whether `s` holds a C0 or C1 control character or DEL: never part of an id. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

function own(rec: Record<string, unknown>, key: string): unknown {
  // null means absent (SPEC: optional fields may be sent as null)
  const v = Object.prototype.hasOwnProperty.call(rec, key) ? rec[key] : undefined;
  return v === null ? undefined : v;
}

/** A time field's value as epoch ms, or the rejection. */
export function parseTime(value: unknown, field: string): number | ValidationResult {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      return fail('TALLY_FIELD_FORMAT', field, `${field}: ${TIME_RULE}, got ${echo(value)}`);
    }
    if (!Number.isInteger(value)) {
      return fail(
        'TALLY_FIELD_FORMAT',
        field,
        `${field}: epoch milliseconds must be a whole number, got ${echo(value)}`,
      );
    }
    if (value < 0 || value > MAX_EPOCH_MS) {
      return fail(
        'TALLY_FIELD_FORMAT',
        field,
        `${field}: epoch milliseconds must be between 0 and ${MAX_EPOCH_MS}, got ${echo(value)}`,
      );
    }
    return value;
  }
  if (typeof value === 'string') {
    if (/^\s*[-+]?\d+(\.\d*)?\s*$/.test(value)) {
      return fail(
        'TALLY_FIELD_TYPE',
        field,
        `${field}: epoch milliseconds must be a JSON number, not a string, got ${echo(value)}`,
      );
    }
    const ms = parseIsoTimestamp(value);
    if (typeof ms === 'string') {
      return fail('TALLY_FIELD_FORMAT', field, `${field}: ${TIME_RULE}; ${ms}, got ${echo(value)}`);
    }
    if (ms < 0) {
      return fail(
        'TALLY_FIELD_FORMAT',
        field,
        `${field}: must not be before 1970-01-01T00:00:00Z, got ${echo(value)}`,
      );
    }
    if (ms > MAX_EPOCH_MS) {
      return fail('TALLY_FIELD_FORMAT', field, `${field}: is out of range, got ${echo(value)}`);
    }
    return ms;
  }
  return fail('TALLY_FIELD_TYPE', field, `${field}: ${TIME_RULE}, got ${jsonType(value)}`);
}

function formatSkew(ms: number): string {
  return ms % MINUTE_MS === 0 ? `${ms / MINUTE_MS} min` : `${ms / 1000} s`;
}

/** The unknown fields of `rec` as JSON object text in key order; undefined when none. */
function collectExtra(rec: Record<string, unknown>): string | undefined | ValidationResult {
  let out: string | undefined;
  for (const key of Object.keys(rec)) {
    if (KNOWN_FIELDS.has(key)) continue;
    let json: string | undefined;
    try {
      json = JSON.stringify(rec[key]);
    } catch {
      return fail('TALLY_FIELD_TYPE', key, `${key}: unknown fields must hold JSON values`);
    }
    // 1e400 parses as Infinity, which would be stored as null: refused, not changed
    if (hasNonFiniteNumber(rec[key])) {
      return fail(
        'TALLY_FIELD_FORMAT',
        key,
        `${key}: a number is out of range (JSON numbers must be finite)`,
      );
    }
    if (json === undefined) continue;
    out = (out === undefined ? '{' : out + ',') + JSON.stringify(key) + ':' + json;
  }
  return out === undefined ? undefined : out + '}';
}

/**
 * The values of the known fields of one record, as JSON.parse gives them; `undefined` for a
 * field that is absent or null.
 */
export type FieldValues = { [K in FieldKey]: unknown };

/** Whether event time `ms` is further ahead of `opts.now` than maxFutureSkew allows. */
export function isInFuture(ms: number, opts: ValidationOptions): boolean {
  return ms > opts.now + opts.maxFutureSkewMs;
}

/**
 * A string value of a `text` or `normalised` field (fields.ts) → its stored form, or why not:
 * too short or too long (code points), not its format, not Unicode text. Query filters check
 * their values with it too.
 */
export function checkString(spec: FieldSpec, s: string): string | Rejection {
  const { name, rule } = spec;
  if (s.length < (spec.minChars ?? 0) || exceedsCodePoints(s, spec.maxChars ?? Infinity)) {
    return rejection(
      'TALLY_FIELD_LENGTH',
      name,
      `${name}: ${rule}, got ${s.length === 0 ? 'an empty string' : echo(s)}`,
    );
  }
  if (spec.normalise !== undefined) {
    const v = spec.normalise(s);
    return v ?? rejection('TALLY_FIELD_FORMAT', name, `${name}: ${rule}, got ${echo(s)}`);
  }
  if (hasControl(s)) return rejection('TALLY_FIELD_FORMAT', name, `${name}: ${CONTROL_RULE}`);
  return isWellFormed(s) ? s : rejection('TALLY_FIELD_FORMAT', name, `${name}: ${UNICODE_RULE}`);
}

/** An optional string field: undefined when absent, else checkString's answer. */
function optionalString(spec: FieldSpec, raw: unknown): string | undefined | ValidationResult {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') {
    return fail(
      'TALLY_FIELD_TYPE',
      spec.name,
      `${spec.name}: must be a string, got ${jsonType(raw)}`,
    );
  }
  const v = checkString(spec, raw);
  return typeof v === 'string' ? v : { ok: false, rejection: v };
}

/**
 * SPEC §1's field rules, in the table's order (ad_id, time, event_id, user_id, ip, country);
 * the first failure is the rejection. The event comes back with `extra` undefined: the caller
 * adds it.
 */
export function validateFields(f: FieldValues, opts: ValidationOptions): ValidationResult {
  // ad_id
  const adId = f.adId;
  if (adId === undefined) {
    return fail('TALLY_FIELD_MISSING', 'ad_id', `ad_id: is required and ${AD_ID_RULE}`);
  }
  if (typeof adId !== 'string') {
    return fail('TALLY_FIELD_TYPE', 'ad_id', `ad_id: must be a string, got ${jsonType(adId)}`);
  }
  if (adId.length === 0 || adId.length > AD_ID_MAX) {
    return fail(
      'TALLY_FIELD_LENGTH',
      'ad_id',
      `ad_id: ${AD_ID_RULE}, got ${adId.length} characters`,
    );
  }
  for (let i = 0; i < adId.length; i++) {
    if (!isAdIdChar(adId.charCodeAt(i))) {
      return fail('TALLY_FIELD_FORMAT', 'ad_id', `ad_id: ${AD_ID_RULE}, got ${echo(adId)}`);
    }
  }

  // timestamp / click_timestamp
  const tsRaw = f.timestamp;
  const ctRaw = f.clickTimestamp;
  if (tsRaw === undefined && ctRaw === undefined) {
    return fail(
      'TALLY_FIELD_MISSING',
      'timestamp',
      `timestamp: is required (or click_timestamp) and ${TIME_RULE}`,
    );
  }
  let timestamp = 0;
  let timeField = 'timestamp';
  if (tsRaw !== undefined) {
    const t = parseTime(tsRaw, 'timestamp');
    if (typeof t !== 'number') return t;
    timestamp = t;
  }
  if (ctRaw !== undefined) {
    const t = parseTime(ctRaw, 'click_timestamp');
    if (typeof t !== 'number') return t;
    if (tsRaw !== undefined && t !== timestamp) {
      return fail(
        'TALLY_FIELD_FORMAT',
        'click_timestamp',
        `click_timestamp: must denote the same instant as timestamp when both are sent, got ${formatIsoTimestamp(t)} and ${formatIsoTimestamp(timestamp)}`,
      );
    }
    if (tsRaw === undefined) {
      timestamp = t;
      timeField = 'click_timestamp';
    }
  }
  if (isInFuture(timestamp, opts)) {
    return fail(
      'TALLY_EVENT_IN_FUTURE',
      timeField,
      `${timeField}: ${formatIsoTimestamp(timestamp)} is ${formatSkew(timestamp - opts.now)} ahead of the server clock (${formatIsoTimestamp(opts.now)}); at most ${formatSkew(opts.maxFutureSkewMs)} (maxFutureSkew) is allowed`,
    );
  }

  // the optional strings: event_id, user_id, ip, country
  const eventId = optionalString(FIELD.eventId, f.eventId);
  if (typeof eventId === 'object') return eventId;
  const userId = optionalString(FIELD.userId, f.userId);
  if (typeof userId === 'object') return userId;
  const ip = optionalString(FIELD.ip, f.ip);
  if (typeof ip === 'object') return ip;
  const country = optionalString(FIELD.country, f.country);
  if (typeof country === 'object') return country;

  return {
    ok: true,
    event: {
      adId,
      timestamp,
      eventId: eventId ?? canonicalEventId(adId, timestamp, userId, ip, country),
      eventIdGiven: eventId !== undefined,
      userId,
      ip,
      country,
      extra: undefined,
    },
  };
}

/** The known fields of a parsed record, by the table's JSON names. */
function fieldValuesOf(rec: Record<string, unknown>): FieldValues {
  const f = {} as FieldValues;
  for (const spec of FIELDS) f[spec.key] = own(rec, spec.name);
  return f;
}

export function validateEvent(input: unknown, opts: ValidationOptions): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return notObject(input);
  }
  // the shape limits first: nothing below recurses into a value beyond them
  const beyond = checkRecordLimits(input);
  if (beyond !== undefined) return { ok: false, rejection: beyond };
  const rec = input as Record<string, unknown>;
  const r = validateFields(fieldValuesOf(rec), opts);
  if (!r.ok) return r;
  const extra = collectExtra(rec);
  if (typeof extra === 'object') return extra;
  r.event.extra = extra;
  return r;
}

/** The rejection of a record that is not a JSON object. */
export function notObject(input: unknown): ValidationResult {
  return fail(
    'TALLY_EVENT_NOT_OBJECT',
    undefined,
    `the record must be a JSON object, got ${jsonType(input)}`,
  );
}
