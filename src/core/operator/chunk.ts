/**
 * A chunk of parsed records, structure-of-arrays. The operator's hot path runs in passes over
 * a chunk instead of record by record: the dedup table, the ad interner and the count maps
 * are far larger than the caches, and a pass that first touches every record's slots lets
 * those cache misses overlap instead of paying them one after another.
 */
import type { RecordCursor } from '../event/codec.js';
import { hashBytes } from '../aggregate/interner.js';
import type { Pane } from './node.js';

export const CHUNK = 256;

export class RecordChunk {
  count = 0;
  /** an error thrown by the cursor after `count` good records: apply them, then rethrow */
  error: unknown = undefined;
  buf: Uint8Array = new Uint8Array(0);
  readonly ts = new Float64Array(CHUNK);
  readonly k0 = new Int32Array(CHUNK);
  readonly k1 = new Int32Array(CHUNK);
  readonly k2 = new Int32Array(CHUNK);
  readonly k3 = new Int32Array(CHUNK);
  readonly adStart = new Int32Array(CHUNK);
  readonly adEnd = new Int32Array(CHUNK);
  readonly adHash = new Int32Array(CHUNK);
  readonly recordStart = new Int32Array(CHUNK);
  readonly recordEnd = new Int32Array(CHUNK);
  /** interned ad, or −1: duplicate, −2: late */
  readonly ad = new Int32Array(CHUNK);
  readonly pane: (Pane | null)[] = new Array<Pane | null>(CHUNK).fill(null);
  /**
   * per record i and configured dimension j, at i × dimensions + j: the value's byte range
   * (start −1: the record has none), then its dimension value id (−1: none)
   */
  readonly dimStart: Int32Array;
  readonly dimEnd: Int32Array;
  readonly dimValue: Int32Array;

  /** `dimFields`: the field numbers (core/event/fields.ts) of the configured dimensions */
  constructor(private readonly dimFields: Int32Array) {
    const n = CHUNK * dimFields.length;
    this.dimStart = new Int32Array(n);
    this.dimEnd = new Int32Array(n);
    this.dimValue = new Int32Array(n);
  }

  /**
   * Parses up to CHUNK records from the cursor (the first pass). Returns the count; a corrupt
   * record stops the chunk and is kept in `error`.
   */
  fill(c: RecordCursor): number {
    let n = 0;
    this.error = undefined;
    const dimFields = this.dimFields;
    const nd = dimFields.length;
    const fieldStart = c.fieldStart;
    const fieldEnd = c.fieldEnd;
    try {
      while (n < CHUNK && c.next()) {
        this.ts[n] = c.timestamp;
        this.k0[n] = c.key0;
        this.k1[n] = c.key1;
        this.k2[n] = c.key2;
        this.k3[n] = c.key3;
        this.adStart[n] = c.adIdStart;
        this.adEnd[n] = c.adIdEnd;
        this.adHash[n] = hashBytes(c.buf, c.adIdStart, c.adIdEnd);
        this.recordStart[n] = c.recordStart;
        this.recordEnd[n] = c.recordEnd;
        for (let j = 0, at = n * nd; j < nd; j++, at++) {
          const f = dimFields[j]!;
          this.dimStart[at] = fieldStart[f]!;
          this.dimEnd[at] = fieldEnd[f]!;
        }
        n++;
      }
    } catch (e) {
      this.error = e;
    }
    this.buf = c.buf;
    this.count = n;
    return n;
  }

  /** drops the pane references, so a chunk does not keep dropped panes alive */
  release(): void {
    this.pane.fill(null, 0, this.count);
  }
}
