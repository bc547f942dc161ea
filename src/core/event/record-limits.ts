/**
 * The shape limits of one record, whatever path reads it: a click is a flat object of a few
 * short fields, so anything far from that is refused with TALLY_RECORD_LIMIT before it is
 * validated, stored or echoed. The limits keep hostile records (deep nesting, thousands of
 * fields, megabytes of unknown fields, numbers JSON cannot carry) from costing stack, memory
 * or storage, and make every such record a rejection with a reason instead of an exception.
 *
 * They are decided on the parsed value (the slow path). The byte scanner's fast path reads
 * only flat objects whose raw text is under FAST_PATH_MAX_BYTES, which are always within the
 * limits (depth 1; 7 known + at most 32 unknown fields; a serialised size under 64 KiB), and
 * hands anything bigger to the slow path: both paths therefore agree by construction.
 *
 * Duplicate keys are NOT refused: JSON.parse keeps the last value, and the scanner hands a
 * record with a duplicate key to JSON.parse, so both paths count the last value, and the
 * stored record (its `extra` is re-serialised from the parsed value) holds the value counted.
 */
import { rejection, type Rejection } from '../errors.js';

/** nesting depth of a record: the record object itself is depth 1 */
export const MAX_RECORD_DEPTH = 32;
/** members of the record object (known fields included) */
export const MAX_RECORD_FIELDS = 64;
/** the record re-serialised as JSON, in UTF-16 code units (JSON.stringify(value).length) */
export const MAX_RECORD_CHARS = 64 * 1024;
/** records whose raw bytes are longer go to the slow path, which applies the limits above */
export const FAST_PATH_MAX_BYTES = 4 * 1024;

const RULE = `a record may nest ${MAX_RECORD_DEPTH} levels deep, hold ${MAX_RECORD_FIELDS} fields and take ${MAX_RECORD_CHARS} characters as JSON`;

function limit(message: string, field?: string): Rejection {
  return rejection('TALLY_RECORD_LIMIT', field, `${message} (${RULE})`);
}

/**
 * Why `value` (as JSON.parse gave it) is beyond the limits, or undefined. Iterative: a value
 * nested a million levels deep costs no stack.
 */
export function checkRecordLimits(value: unknown): Rejection | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const n = Object.keys(value).length;
    if (n > MAX_RECORD_FIELDS) return limit(`the record has ${n} fields`);
  }
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  let nodes = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    const depth = depths.pop() as number;
    // a bound on work too: more nodes than characters allowed cannot fit
    if (++nodes > MAX_RECORD_CHARS) return limit('the record holds too many values');
    if (typeof v !== 'object' || v === null) continue;
    if (depth > MAX_RECORD_DEPTH)
      return limit(`the record nests deeper than ${MAX_RECORD_DEPTH} levels`);
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) {
      if (typeof c === 'object' && c !== null) {
        stack.push(c);
        depths.push(depth + 1);
      }
    }
  }
  let chars = 0;
  try {
    chars = JSON.stringify(value)?.length ?? 0;
  } catch {
    return undefined; // not JSON (a BigInt from code, never from a body): validation says so
  }
  if (chars > MAX_RECORD_CHARS) return limit(`the record takes ${chars} characters as JSON`);
  return undefined;
}

/**
 * Whether `value` (within the limits) holds a number JSON cannot carry: text like 1e400,
 * which JSON.parse makes Infinity and JSON.stringify would store as null.
 */
export function hasNonFiniteNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true;
    } else if (typeof v === 'object' && v !== null) {
      for (const c of Array.isArray(v) ? v : Object.values(v)) stack.push(c);
    }
  }
  return false;
}

/**
 * JSON text of `value` for the dead-letter store, without recursion: JSON.stringify overflows
 * the stack on values thousands of levels deep, which are exactly the ones refused here.
 * Long output is cut at `maxChars` (the payload of a refused record is kept as evidence).
 */
export function safeJsonText(value: unknown, maxChars = MAX_RECORD_CHARS): string {
  if (checkRecordLimits(value) === undefined) {
    try {
      return JSON.stringify(value) ?? String(value);
    } catch {
      return String(value);
    }
  }
  let out = '';
  // a stack of pending tokens: values to write, or literal text
  const stack: Array<{ text: string } | { value: unknown }> = [{ value }];
  while (stack.length > 0 && out.length < maxChars) {
    const item = stack.pop()!;
    if ('text' in item) {
      out += item.text;
      continue;
    }
    const v = item.value;
    if (Array.isArray(v)) {
      stack.push({ text: ']' });
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i] });
        if (i > 0) stack.push({ text: ',' });
      }
      out += '[';
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      stack.push({ text: '}' });
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i]!;
        stack.push({ value: child });
        stack.push({ text: `${JSON.stringify(k)}:` });
        if (i > 0) stack.push({ text: ',' });
      }
      out += '{';
    } else {
      out += JSON.stringify(v) ?? 'null';
    }
  }
  return out.length > maxChars ? out.slice(0, maxChars) : out;
}
