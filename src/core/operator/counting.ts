/**
 * Counting: framed records of one partition → the dedup table, the panes' counts (with
 * corrections of emitted minutes) and the late events, per the semantics at the top of
 * aggregator.ts. The hot path works in passes over chunks of parsed records (chunk.ts).
 */
import { RecordCursor } from '../event/codec.js';
import { fieldNumber } from '../event/fields.js';
import type { PairCountMap } from '../aggregate/count-map.js';
import { dimensionTag } from '../aggregate/dimensions.js';
import { MINUTE_MS } from '../window/minute.js';
import { CHUNK, RecordChunk } from './chunk.js';
import type { Pane } from './node.js';
import type { OutputBuffer } from './output.js';
import type { OperatorState, Progress } from './state.js';

export class Counter {
  private readonly cursor = new RecordCursor();
  private readonly lateCursor = new RecordCursor();
  private readonly chunk: RecordChunk;
  /** the configured dimensions' tags (dimensionTag), in the chunk's order */
  private readonly dimTags: Int32Array;
  private readonly anyDims: boolean;
  /** where the cache-warming reads go, so that they are not optimised away */
  protected sink = 0;

  constructor(
    private readonly st: OperatorState,
    private readonly out: OutputBuffer,
  ) {
    // which fields are counted, and how their values are tagged: the field table's, for the
    // configured dimensions
    const dims = st.cfg.dimensions;
    this.dimTags = Int32Array.from(dims, dimensionTag);
    this.chunk = new RecordChunk(Int32Array.from(dims, (d) => fieldNumber(d)));
    this.anyDims = dims.length > 0;
  }

  /** See ClickAggregator.onRecords. */
  onRecords(partition: number, data: Uint8Array, firstOffset: number, now: number): number {
    const prog = this.st.progressOf(partition);
    const c = this.cursor.reset(data);
    const chunk = this.chunk;
    let n = 0;
    try {
      while (true) {
        const k = chunk.fill(c);
        if (k > 0) {
          this.applyChunk(partition, prog, firstOffset + n, now);
          n += k;
        }
        if (chunk.error !== undefined) throw chunk.error;
        if (k < CHUNK) break;
      }
    } finally {
      if (n > 0) prog.lastArrival = now;
      prog.nextOffset = firstOffset + n;
    }
    return n;
  }

  /**
   * The semantics, per record in input order, in three passes over a parsed chunk: touch
   * the dedup and interner slots; dedup, lateness, intern, find the pane (and touch its
   * count slots); count. Only the first pass's touches and the second's are reordered
   * across records, and they have no effect but warming the caches.
   */
  private applyChunk(partition: number, prog: Progress, firstOffset: number, now: number): void {
    const st = this.st;
    const ch = this.chunk;
    const k = ch.count;
    const buf = ch.buf;
    const dedup = st.dedup;
    const ads = st.ads;
    let sink = 0;
    for (let i = 0; i < k; i++) sink ^= dedup.hint(ch.k0[i]!, ch.k2[i]!) ^ ads.hint(ch.adHash[i]!);
    for (let i = 0; i < k; i++) sink ^= ads.hintBytes(ch.adHash[i]!);

    const W = st.W;
    const horizon = st.cfg.dedupHorizonMs;
    // late iff minute + 1 min + lateness ≤ W
    const lateLimit = W - st.cfg.allowedLatenessMs - MINUTE_MS;
    const nodes = st.nodes;
    const adTexts = st.adTexts;
    const anyDims = this.anyDims;
    const dimValues = st.dimValues;
    const dimTags = this.dimTags;
    const nd = dimTags.length;
    let maxTs = prog.maxEventTime ?? -Infinity;
    let events = 0;
    let dups = 0;
    for (let i = 0; i < k; i++) {
      const ts = ch.ts[i]!;
      if (dedup.seen(ch.k0[i]!, ch.k1[i]!, ch.k2[i]!, ch.k3[i]!, ts + horizon, W)) {
        dups++;
        ch.ad[i] = -1;
        continue;
      }
      events++;
      if (ts > maxTs) maxTs = ts;
      const m = Math.floor(ts / MINUTE_MS) * MINUTE_MS;
      if (m <= lateLimit) {
        ch.ad[i] = -2;
        this.emitLate(partition, firstOffset + i, buf, ch.recordStart[i]!, ch.recordEnd[i]!, now);
        continue;
      }
      const id = ads.internHashed(ch.adHash[i]!, buf, ch.adStart[i]!, ch.adEnd[i]!);
      if (id >= adTexts.length) st.newAd(id, partition);
      ch.ad[i] = id;
      const node = nodes[st.owner[id]!]!;
      const pane = node.pane(m, W, anyDims);
      ch.pane[i] = pane;
      if (pane.dense === null) {
        // an open pane created while its node was small becomes dense once it is busy
        if (!pane.closed) node.maybePromote(pane, st.local);
        if (pane.dense === null) sink ^= pane.star.hint(id);
      }
      if (!anyDims) continue;
      // a minute that still counts is not final: its pair counts are the hash map
      const dims = pane.dims as PairCountMap;
      for (let j = 0, at = i * nd; j < nd; j++, at++) {
        const s = ch.dimStart[at]!;
        let dv = -1;
        if (s >= 0) {
          dv = dimValues.id(dimTags[j]!, buf, s, ch.dimEnd[at]!);
          sink ^= dims.hint(id, dv);
        }
        ch.dimValue[at] = dv;
      }
    }
    if (maxTs > -Infinity) prog.maxEventTime = maxTs;
    const stats = this.out.stats;
    stats.events += events;
    stats.duplicates += dups;

    const local = st.local;
    for (let i = 0; i < k; i++) {
      const id = ch.ad[i]!;
      if (id < 0) continue;
      const pane = ch.pane[i]!;
      const closed = pane.closed;
      if (pane.dense !== null) {
        pane.dense.add(local[id]!, 1); // an open minute: no correction
      } else {
        const se = pane.star.add(id, 1);
        if (closed) this.correct(pane, se, id);
      }
      if (!anyDims) continue;
      const dims = pane.dims as PairCountMap;
      for (let j = 0, at = i * nd; j < nd; j++, at++) {
        const dv = ch.dimValue[at]!;
        if (dv >= 0) {
          const e = dims.add(id, dv, 1);
          if (closed) {
            dims.dirty.add(e);
            st.dimTops.onCorrection(pane.minute, id, dv);
          }
        }
      }
    }
    ch.release();
    this.sink = sink;
  }

  /** An event counted into an emitted minute: its rows and top windows must be re-emitted. */
  private correct(pane: Pane, entry: number, id: number): void {
    const st = this.st;
    const node = st.nodes[st.owner[id]!]!;
    pane.star.dirty.add(entry);
    pane.dirty = true;
    node.noteCorrection(id, pane.minute, st.corrected);
    for (const w of node.windows) if (w !== null && w.contains(pane.minute)) w.apply(id, 1);
  }

  private emitLate(
    partition: number,
    offset: number,
    buf: Uint8Array,
    start: number,
    end: number,
    now: number,
  ): void {
    this.out.stats.late++;
    const c = this.lateCursor.reset(buf.subarray(start, end));
    c.next();
    this.out.late.push({
      partition,
      offset,
      event: c.decode(),
      watermark: this.st.W,
      arrivedAt: now,
    });
  }
}
