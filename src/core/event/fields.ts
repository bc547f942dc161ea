/**
 * The one table of the click event's fields (SPEC §1): the wire name, the rule a value must
 * meet and how messages state it, the limits, the stored (normalised) form, and whether the
 * field can be a pre-aggregated dimension. Everything that knows a field reads it here: the
 * validator (validate.ts), the byte scanner and its fast checks (scan.ts, fast-accept.ts),
 * the dimensions (aggregate/dimensions.ts), the query filters, the HTTP schemas and the
 * config's list of dimensions.
 *
 * Adding a pre-aggregated dimension on a field the record carries is a `dimensionTag` here
 * plus the config's `aggregation.dimensions`.
 */
import { canonicalIp } from './ip.js';
import { COUNTRY_CODES, countryIndex } from './countries.js';

// ---- ad_id: its alphabet and length, once --------------------------------------------------

export const AD_ID_MAX = 64;
const AD_ID_ALPHABET = 'A-Za-z0-9_.:-';
/** ad_id as a regular expression source: JSON Schema `pattern`, query parameters */
export const AD_ID_PATTERN = `^[${AD_ID_ALPHABET}]{1,${AD_ID_MAX}}$`;
/** the ad_id rule, as messages state it */
export const AD_ID_RULE = `must be 1–${AD_ID_MAX} characters of [${AD_ID_ALPHABET}]`;
const AD_ID_RE = new RegExp(AD_ID_PATTERN);

// ASCII code → 1 when it may appear in an ad_id: the per-byte check of the byte scanner,
// made from the alphabet above
const AD_ID_CHARS = new Uint8Array(128);
{
  const one = new RegExp(`^[${AD_ID_ALPHABET}]$`);
  for (let c = 0; c < 128; c++) AD_ID_CHARS[c] = one.test(String.fromCharCode(c)) ? 1 : 0;
}

/** Whether `s` is a valid ad_id. */
export function isAdId(s: string): boolean {
  return AD_ID_RE.test(s);
}

/** Whether `c` (a UTF-16 code unit or a byte) may appear in an ad_id. */
export function isAdIdChar(c: number): boolean {
  return c < 128 && AD_ID_CHARS[c] === 1;
}

// ---- country ---------------------------------------------------------------------------------

/**
 * The country code spelled by two code units, upper-cased, when it is an assigned ISO 3166-1
 * alpha-2 code: its index in COUNTRY_CODES (and upper-case units `a`, `b` are
 * `COUNTRY_CODES[i]`); -1 otherwise. toUpperCase alone would map 'ß' to 'SS'.
 */
export function countryPair(a: number, b: number): number {
  return countryIndex(a & ~32, b & ~32);
}

/** `s` as a stored country code (upper case, assigned), or undefined. */
function canonicalCountry(s: string): string | undefined {
  const i = s.length === 2 ? countryPair(s.charCodeAt(0), s.charCodeAt(1)) : -1;
  return i < 0 ? undefined : COUNTRY_CODES[i];
}

// ---- the table -------------------------------------------------------------------------------

/** event_id and user_id: at most this many characters */
const ID_MAX = 128;

export const TIME_RULE =
  'must be ISO-8601 with a UTC offset (e.g. 2026-01-01T12:00:00Z) or epoch milliseconds';

/**
 * How a field is checked: `adId` (required, the alphabet), `time` (ISO-8601 or epoch ms; one
 * of the two time fields is required), `text` (a string of bounded length), `normalised` (a
 * string whose stored form `normalise` gives, or undefined when it is not valid).
 */
export type FieldKind = 'adId' | 'time' | 'text' | 'normalised';

export interface FieldSpec {
  /** the JSON name on the wire */
  readonly name: string;
  /** the property of ClickEvent (and FieldValues) that holds it */
  readonly key: string;
  readonly kind: FieldKind;
  /** what it is, for the API description */
  readonly about: string;
  /** the rule a value must meet, as messages state it ("must be …") */
  readonly rule: string;
  /** text: bounds on its length in Unicode code points */
  readonly minChars?: number;
  readonly maxChars?: number;
  /** normalised: the stored form of a valid value, or undefined */
  readonly normalise?: (s: string) => string | undefined;
  /**
   * An attribute that can be pre-aggregated: the byte that tags its values in the dimension
   * interner. Snapshots store it, so a field keeps its tag for good.
   */
  readonly dimensionTag?: number;
  /**
   * A dimension whose values are a closed set of a few hundred (countries): the aggregator
   * keeps a top list per value, window and end. Not for open sets (user ids, addresses): a
   * list per user per window per minute would outgrow the rows it summarises.
   */
  readonly topLists?: boolean;
}

const AD_ID = {
  name: 'ad_id',
  key: 'adId',
  kind: 'adId',
  about: 'the ad',
  rule: AD_ID_RULE,
  minChars: 1,
  maxChars: AD_ID_MAX,
} as const satisfies FieldSpec;
const TIMESTAMP = {
  name: 'timestamp',
  key: 'timestamp',
  kind: 'time',
  about: 'event time (or click_timestamp)',
  rule: TIME_RULE,
} as const satisfies FieldSpec;
const CLICK_TIMESTAMP = {
  name: 'click_timestamp',
  key: 'clickTimestamp',
  kind: 'time',
  about: "event time, the book's name (must equal timestamp when both are sent)",
  rule: TIME_RULE,
} as const satisfies FieldSpec;
const EVENT_ID = {
  name: 'event_id',
  key: 'eventId',
  kind: 'text',
  about: 'idempotency key',
  rule: `must be 1–${ID_MAX} characters, no control characters`,
  minChars: 1,
  maxChars: ID_MAX,
} as const satisfies FieldSpec;
const USER_ID = {
  name: 'user_id',
  key: 'userId',
  kind: 'text',
  about: 'the user',
  rule: `must be at most ${ID_MAX} characters, no control characters`,
  minChars: 0,
  maxChars: ID_MAX,
  dimensionTag: 1,
} as const satisfies FieldSpec;
const IP = {
  name: 'ip',
  key: 'ip',
  kind: 'normalised',
  about: 'IPv4 or IPv6; stored canonical',
  rule: 'must be an IPv4 address (dotted quad, no leading zeros) or an IPv6 address (no zone id)',
  normalise: canonicalIp,
  dimensionTag: 2,
} as const satisfies FieldSpec;
const COUNTRY = {
  name: 'country',
  key: 'country',
  kind: 'normalised',
  about: 'ISO 3166-1 alpha-2, upper-cased on input',
  rule: 'must be an assigned ISO 3166-1 alpha-2 code (e.g. US)',
  normalise: canonicalCountry,
  dimensionTag: 0,
  topLists: true,
} as const satisfies FieldSpec;

/** Every field, in the order of the validator's checks (and the byte scanner's numbering). */
export const FIELDS = [AD_ID, TIMESTAMP, CLICK_TIMESTAMP, EVENT_ID, USER_ID, IP, COUNTRY] as const;

/** The fields by ClickEvent property. */
export const FIELD = {
  adId: AD_ID,
  timestamp: TIMESTAMP,
  clickTimestamp: CLICK_TIMESTAMP,
  eventId: EVENT_ID,
  userId: USER_ID,
  ip: IP,
  country: COUNTRY,
} as const satisfies { [K in FieldKey]: Extract<(typeof FIELDS)[number], { key: K }> };

export type FieldKey = (typeof FIELDS)[number]['key'];

/** the number of known fields; a field's number is its position in FIELDS */
export const FIELD_COUNT = FIELDS.length;
export const F_AD_ID = fieldNumber('ad_id');
export const F_TIMESTAMP = fieldNumber('timestamp');
export const F_CLICK_TIMESTAMP = fieldNumber('click_timestamp');
export const F_EVENT_ID = fieldNumber('event_id');
export const F_USER_ID = fieldNumber('user_id');
export const F_IP = fieldNumber('ip');
export const F_COUNTRY = fieldNumber('country');

/** the JSON names of the known fields; any other key of a record is `extra` */
export const KNOWN_FIELD_NAMES: readonly string[] = FIELDS.map((f) => f.name);

/** the position of a field in FIELDS: its number (the byte scanner's, the record cursor's) */
export function fieldNumber(name: (typeof FIELDS)[number]['name']): number {
  return FIELDS.findIndex((f) => f.name === name);
}

// ---- dimensions --------------------------------------------------------------------------------

/** a field that can be a dimension */
export type DimensionField = Extract<(typeof FIELDS)[number], { dimensionTag: number }>;

/** An attribute that may be pre-aggregated (config `aggregation.dimensions`). */
export type Dimension = DimensionField['name'];

/** The dimension-capable fields, by tag. */
export const DIMENSION_FIELDS: readonly DimensionField[] = (FIELDS as readonly FieldSpec[])
  .filter((f): f is DimensionField => f.dimensionTag !== undefined)
  .sort((a, b) => a.dimensionTag - b.dimensionTag);

/** The field of dimension `d`. */
export function dimensionField(d: Dimension): DimensionField {
  return DIMENSION_FIELDS.find((f) => f.name === d)!;
}
