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
  readonly minute = new Float64Array(CHUNK);
  readonly k0 = new Int32Array(CHUNK);
  readonly k1 = new Int32Array(CHUNK);
  readonly k2 = new Int32Array(CHUNK);
  readonly k3 = new Int32Array(CHUNK);
  readonly adStart = new Int32Array(CHUNK);
  readonly adEnd = new Int32Array(CHUNK);
  readonly adHash = new Int32Array(CHUNK);
  readonly countryStart = new Int32Array(CHUNK);
  readonly userStart = new Int32Array(CHUNK);
  readonly userEnd = new Int32Array(CHUNK);
  readonly ipStart = new Int32Array(CHUNK);
  readonly ipEnd = new Int32Array(CHUNK);
  readonly recordStart = new Int32Array(CHUNK);
  readonly recordEnd = new Int32Array(CHUNK);
  /** interned ad, or −1: duplicate, −2: late */
  readonly ad = new Int32Array(CHUNK);
  /** dimension value ids (−1: absent or not configured) */
  readonly country = new Int32Array(CHUNK);
  readonly user = new Int32Array(CHUNK);
  readonly ip = new Int32Array(CHUNK);
  readonly pane: (Pane | null)[] = new Array<Pane | null>(CHUNK).fill(null);

  /**
   * Parses up to CHUNK records from the cursor (the first pass). Returns the count; a corrupt
   * record stops the chunk and is kept in `error`.
   */
  fill(c: RecordCursor): number {
    let n = 0;
    this.error = undefined;
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
        this.countryStart[n] = c.countryStart;
        this.userStart[n] = c.userIdStart;
        this.userEnd[n] = c.userIdEnd;
        this.ipStart[n] = c.ipStart;
        this.ipEnd[n] = c.ipEnd;
        this.recordStart[n] = c.recordStart;
        this.recordEnd[n] = c.recordEnd;
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
