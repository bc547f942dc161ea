/**
 * Pre-aggregated dimensions (the book's filters as a star schema): each (dimension, value)
 * pair gets a small integer id, looked up from the record's bytes without making a string.
 * The row's key, e.g. `country=US`, is made once per value, at emission. Which attributes
 * can be dimensions, and their tags, is the field table's (core/event/fields.ts).
 */
import type { DimKey, Dimension } from './types.js';
import { DIMENSION_FIELDS } from '../event/fields.js';
import { ByteInterner } from './interner.js';

/** every attribute that can be a dimension, by tag */
export const DIMENSIONS: readonly Dimension[] = DIMENSION_FIELDS.map((f) => f.name);

/** the dimensions whose values get a top list each (a closed set of values: fields.ts) */
export const TOP_LIST_DIMENSIONS: readonly Dimension[] = DIMENSION_FIELDS.filter(
  (f) => (f as { topLists?: boolean }).topLists === true,
).map((f) => f.name);

/** the byte that prefixes a value in the interner, so equal values of two dimensions differ */
export function dimensionTag(d: Dimension): number {
  return DIMENSIONS.indexOf(d);
}

/** The key of a minute row that counts the events with `value` of dimension `d`. */
export function dimensionKey(d: Dimension, value: string): DimKey {
  return `${d}=${value}`;
}

export class DimensionValues {
  private readonly interner = new ByteInterner(256);
  /**
   * per tag, two value bytes (b0 << 8 | b1) → id + 1: a two-byte value (a country) costs
   * one array read; made on the first such value of the tag
   */
  private readonly pairCache: (Int32Array | undefined)[] = [];
  private readonly keys: (DimKey | undefined)[] = [];
  private scratch = new Uint8Array(256);

  get size(): number {
    return this.interner.size;
  }

  /** The id of value `buf[start, end)` of dimension `tag` (see dimensionTag). */
  id(tag: number, buf: Uint8Array, start: number, end: number): number {
    if (end - start === 2) {
      const cache = (this.pairCache[tag] ??= new Int32Array(65536));
      const k = (buf[start]! << 8) | buf[start + 1]!;
      const cached = cache[k]!;
      if (cached !== 0) return cached - 1;
      const id = this.internTagged(tag, buf, start, end);
      cache[k] = id + 1;
      return id;
    }
    return this.internTagged(tag, buf, start, end);
  }

  /** `country=US`: the row's dimension key (made once per value). */
  key(id: number): DimKey {
    let k = this.keys[id];
    if (k === undefined) {
      const bytes = this.interner.bytesOf(id);
      k = dimensionKey(DIMENSIONS[bytes[0]!]!, this.interner.text(id).slice(1));
      this.keys[id] = k;
    }
    return k;
  }

  /** the dimension tag of value `id` (see dimensionTag) */
  tagOf(id: number): number {
    return this.interner.bytesOf(id)[0]!;
  }

  /** tag byte + value bytes of id, for snapshots */
  bytesOf(id: number): Uint8Array {
    return this.interner.bytesOf(id);
  }

  /** Re-interns tagged bytes in id order (restore); -1 when the tag is no dimension's. */
  internTaggedBytes(bytes: Uint8Array): number {
    if (bytes.length < 1 || bytes[0]! >= DIMENSIONS.length) return -1;
    return this.interner.intern(bytes, 0, bytes.length);
  }

  private internTagged(tag: number, buf: Uint8Array, start: number, end: number): number {
    const len = end - start + 1;
    if (len > this.scratch.length) this.scratch = new Uint8Array(len * 2);
    this.scratch[0] = tag;
    this.scratch.set(buf.subarray(start, end), 1);
    return this.interner.intern(this.scratch, 0, len);
  }
}
