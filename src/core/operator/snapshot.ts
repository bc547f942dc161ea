/**
 * The operator snapshot format, version 1, little-endian: the complete state (state.ts),
 * compact and versioned. Output not yet taken is not part of it: take it first (the runner
 * commits a cycle's output together with the snapshot).
 *
 *   u32 magic "TLYA", u16 version, config fingerprint, u32 partitions, f64 W,
 *   f64 startedAt (wall clock of the first construction);
 *   per partition: f64 maxEventTime (NaN: none), f64 lastArrival (NaN: none), f64 nextOffset;
 *   u32 ads, per ad: u8 length, bytes, u32 node; u32 dimension values, per value: u16, bytes;
 *   per node: u32 panes, each: f64 minute, u8 flags, '*' map, [dimension map];
 *     per window: f64 lo, f64 hi (running totals are rebuilt from the panes);
 *     per window: u32 lists, each: f64 end, u32 n, n × (i32 ad, f64 count);
 *     u32 corrected ads + i32 each, u32 corrected minutes + f64 each;
 *   u32 dedup entries, each: i32 ×4 key, f64 expiry;  u32 murmur3 of everything before.
 *
 * Count maps are written in entry order and rebuilt by re-adding, so entry indexes (and the
 * dirty lists that refer to them) come back identical. Bad bytes throw TALLY_SNAPSHOT_INVALID.
 */
import type { AggregatorConfig } from './config.js';
import { CountMap, PairCountMap, type PairCounts } from '../aggregate/count-map.js';
import { murmur3x86_32 } from '../event/hash.js';
import { ByteReader, ByteWriter, invalid } from './binary.js';
import type { AggregateNode, Pane, TopList } from './node.js';
import type { OperatorState } from './state.js';
import { dimensionTag } from '../aggregate/dimensions.js';
import { MINUTE_MS } from '../window/minute.js';

export const SNAPSHOT_MAGIC = 0x41594c54; // "TLYA" read as little-endian u32
export const SNAPSHOT_VERSION = 1;

/** the configured dimensions as a bit set by tag */
function dimensionMask(cfg: AggregatorConfig): number {
  let dims = 0;
  for (const d of cfg.dimensions) dims |= 1 << dimensionTag(d);
  return dims;
}

/** The settings a snapshot's state depends on; a restore under different ones is refused. */
export function writeConfig(w: ByteWriter, cfg: AggregatorConfig): void {
  w.f64(cfg.watermarkDelayMs);
  w.f64(cfg.allowedLatenessMs);
  w.f64(cfg.dedupHorizonMs);
  w.f64(cfg.idleTimeoutMs);
  w.u8(dimensionMask(cfg));
  w.u32(cfg.topN);
  w.u16(cfg.topWindows.length);
  for (const m of cfg.topWindows) w.u32(m);
}

export function checkConfig(r: ByteReader, cfg: AggregatorConfig): void {
  const got = {
    watermarkDelayMs: r.f64(),
    allowedLatenessMs: r.f64(),
    dedupHorizonMs: r.f64(),
    idleTimeoutMs: r.f64(),
    dims: r.u8(),
    topN: r.u32(),
    topWindows: [] as number[],
  };
  const nw = r.u16();
  for (let i = 0; i < nw; i++) got.topWindows.push(r.u32());
  const dims = dimensionMask(cfg);
  // the idle timeout and watermark delay only steer computeWatermark: they may change freely
  const same =
    got.allowedLatenessMs === cfg.allowedLatenessMs &&
    got.dedupHorizonMs === cfg.dedupHorizonMs &&
    got.dims === dims &&
    got.topN === cfg.topN &&
    got.topWindows.join(',') === cfg.topWindows.join(',');
  if (!same)
    invalid(
      `taken under another configuration (lateness ${got.allowedLatenessMs} ms, dedup horizon ` +
        `${got.dedupHorizonMs} ms, topN ${got.topN}, windows [${got.topWindows.join(', ')}]); ` +
        'the counting state depends on it: restore under the same settings or start over',
    );
}

export function writeCountMap(w: ByteWriter, m: CountMap): void {
  w.u32(m.size);
  w.i32s(m.keys, m.size);
  writeCountsAndDirty(w, m);
}

/** A map's counts in entry order, then its dirty entries. */
function writeCountsAndDirty(w: ByteWriter, m: CountMap | PairCounts): void {
  for (let e = 0; e < m.size; e++) w.i32(m.countAt(e));
  w.u32(m.dirty.count);
  w.i32s(m.dirty.list, m.dirty.count);
}

/**
 * Whether keys (integers in [0, limit)) are distinct: a bitmap over the range, left clear
 * after each call. A map's entries are read as they are (CountMap.fromEntries) rather than
 * hashed in, so this is the check that no key repeats.
 */
class DistinctKeys {
  /** a range wider than this many bits is checked by building the map's table instead */
  static readonly MAX_BITS = 1 << 28;
  private bits = new Uint32Array(0);

  check(n: number, limit: number, keyAt: (i: number) => number): boolean {
    const words = Math.ceil(limit / 32);
    if (this.bits.length < words) this.bits = new Uint32Array(words);
    const bits = this.bits;
    let ok = true;
    let i = 0;
    for (; i < n; i++) {
      const k = keyAt(i);
      const w = k >>> 5;
      const bit = 1 << (k & 31);
      if ((bits[w]! & bit) !== 0) {
        ok = false;
        break;
      }
      bits[w] = bits[w]! | bit;
    }
    for (let j = 0; j < i; j++) bits[keyAt(j) >>> 5] = 0;
    return ok;
  }
}
const distinct = new DistinctKeys();

export function readCountMap(r: ByteReader, maxKey: number): CountMap {
  const n = r.count(8);
  const keys = readI32s(r, n);
  const counts = readI32s(r, n);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    const c = counts[i]!;
    if (k < 0 || k >= maxKey || c <= 0) invalid(`bad count entry (${k}, ${c})`);
  }
  let m: CountMap;
  if (maxKey <= DistinctKeys.MAX_BITS) {
    if (!distinct.check(n, maxKey, (i) => keys[i]!)) invalid('repeated key in a count map');
    m = CountMap.fromEntries(keys, counts, n);
  } else {
    m = new CountMap(Math.max(n, 8));
    for (let i = 0; i < n; i++)
      if (m.add(keys[i]!, counts[i]!) !== i) invalid(`repeated key ${keys[i]} in a count map`);
  }
  readDirty(r, n, m.dirty);
  return m;
}

function readI32s(r: ByteReader, n: number): Int32Array {
  return r.i32s(n);
}

export function writePairMap(w: ByteWriter, m: PairCounts): void {
  w.u32(m.size);
  w.i32s(m.keysA, m.size);
  w.i32s(m.keysB, m.size);
  writeCountsAndDirty(w, m);
}

export function readPairMap(r: ByteReader, maxA: number, maxB: number): PairCountMap {
  const n = r.count(12);
  const as = readI32s(r, n);
  const bs = readI32s(r, n);
  const cs = readI32s(r, n);
  for (let i = 0; i < n; i++) {
    const a = as[i]!;
    const b = bs[i]!;
    const c = cs[i]!;
    if (a < 0 || a >= maxA || b < 0 || b >= maxB || c <= 0)
      invalid(`bad dimension entry (${a}, ${b}, ${c})`);
  }
  let m: PairCountMap;
  if (maxA * maxB <= DistinctKeys.MAX_BITS) {
    if (!distinct.check(n, maxA * maxB, (i) => as[i]! * maxB + bs[i]!))
      invalid('repeated key in a dimension map');
    m = PairCountMap.fromEntries(as, bs, cs, n);
  } else {
    m = new PairCountMap(Math.max(n, 8));
    for (let i = 0; i < n; i++)
      if (m.add(as[i]!, bs[i]!, cs[i]!) !== i)
        invalid(`repeated key (${as[i]}, ${bs[i]}) in a dimension map`);
  }
  readDirty(r, n, m.dirty);
  return m;
}

function readDirty(r: ByteReader, entries: number, dirty: { add(e: number): void }): void {
  const n = r.count(4);
  for (let i = 0; i < n; i++) {
    const e = r.i32();
    if (e < 0 || e >= entries) invalid(`dirty entry ${e} out of range`);
    dirty.add(e);
  }
}

/** `localIds` turns dense (open-minute) counts into the sparse form they are written in. */
export function writePane(w: ByteWriter, p: Pane, localIds: Int32Array): void {
  w.f64(p.minute);
  w.u8((p.closed ? 1 : 0) | (p.dirty ? 2 : 0) | (p.dims !== null ? 4 : 0));
  writeCountMap(w, p.dense === null ? p.star : p.dense.toCountMap(localIds));
  if (p.dims !== null) writePairMap(w, p.dims);
}

export function readPane(r: ByteReader, ads: number, dimValues: number): Pane {
  const minute = r.f64();
  if (!Number.isFinite(minute) || minute % MINUTE_MS !== 0) invalid(`bad pane minute ${minute}`);
  const flags = r.u8();
  const star = readCountMap(r, ads);
  const dims = (flags & 4) !== 0 ? readPairMap(r, ads, dimValues) : null;
  return { minute, closed: (flags & 1) !== 0, dirty: (flags & 2) !== 0, star, dense: null, dims };
}

export function writeTopList(w: ByteWriter, end: number, t: TopList): void {
  w.f64(end);
  w.u32(t.ids.length);
  for (let i = 0; i < t.ids.length; i++) {
    w.i32(t.ids[i]!);
    w.f64(t.counts[i]!);
  }
}

export function readTopList(r: ByteReader, ads: number): { end: number; list: TopList } {
  const end = r.f64();
  const n = r.count(12);
  const ids = new Int32Array(n);
  const counts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = r.i32();
    counts[i] = r.f64();
    if (ids[i]! < 0 || ids[i]! >= ads || !(counts[i]! > 0)) invalid('bad top list entry');
  }
  return { end, list: { ids, counts } };
}

/** W, the start time and each partition's progress (NaN: none), as both formats hold them. */
export function writeClock(w: ByteWriter, st: OperatorState): void {
  w.f64(st.W);
  w.f64(st.startedAt);
  for (const p of st.progress) {
    w.f64(p.maxEventTime ?? NaN);
    w.f64(p.lastArrival ?? NaN);
    w.f64(p.nextOffset);
  }
}

export function readClock(r: ByteReader, st: OperatorState): number {
  const W = r.f64();
  if (Number.isNaN(W)) invalid('bad watermark');
  st.W = W;
  st.startedAt = r.f64();
  for (const p of st.progress) {
    const max = r.f64();
    const arr = r.f64();
    p.maxEventTime = Number.isNaN(max) ? undefined : max;
    p.lastArrival = Number.isNaN(arr) ? undefined : arr;
    p.nextOffset = r.f64();
  }
  return W;
}

/** Ads with ids in [from, to), each with the node it is routed to. */
export function writeAds(w: ByteWriter, st: OperatorState, from: number, to: number): void {
  for (let id = from; id < to; id++) {
    const b = st.ads.bytesOf(id);
    w.u8(b.length);
    w.bytes(b);
    w.u32(st.owner[id]!);
  }
}

/** Interns ads [from, to) into `st`, which must hold exactly `from` ads. */
export function readAds(
  r: ByteReader,
  st: OperatorState,
  from: number,
  to: number,
  parts: number,
): void {
  st.reserveAds(to); // room for them all at once
  for (let id = from; id < to; id++) {
    const len = r.u8();
    const at = r.skip(len);
    if (st.ads.intern(r.buf, at, at + len) !== id) invalid(`repeated ad at ${id}`);
    const owner = r.u32();
    if (owner >= parts) invalid(`ad ${id} routed to node ${owner}`);
    st.newAd(id, owner);
  }
}

/** Dimension values with ids in [from, to). */
export function writeDims(w: ByteWriter, st: OperatorState, from: number, to: number): void {
  for (let id = from; id < to; id++) {
    const b = st.dimValues.bytesOf(id);
    w.u16(b.length);
    w.bytes(b);
  }
}

export function readDims(r: ByteReader, st: OperatorState, from: number, to: number): void {
  for (let id = from; id < to; id++) {
    const b = r.bytes(r.u16());
    if (st.dimValues.internTaggedBytes(b) !== id) invalid(`bad dimension value at ${id}`);
  }
}

/** What follows a node's panes: window bounds, top lists, corrections pending. */
export function writeNodeTail(w: ByteWriter, node: AggregateNode): void {
  for (const win of node.windows) {
    w.f64(win?.lo ?? 0);
    w.f64(win?.hi ?? 0);
  }
  for (const tops of node.tops) {
    w.u32(tops.size);
    for (const [e, t] of tops) writeTopList(w, e, t);
  }
  w.u32(node.correctedCount);
  w.i32s(node.correctedAds, node.correctedCount);
  w.u32(node.correctedMinutes.size);
  for (const m of node.correctedMinutes) w.f64(m);
}

/** A node's tail as read, applied once its panes are in place (windows are rebuilt from them). */
export interface NodeTail {
  windows: [number, number][];
  tops: { end: number; list: TopList }[][];
  correctedAds: number[];
  correctedMinutes: number[];
}

export function readNodeTail(r: ByteReader, st: OperatorState, n: number, nAds: number): NodeTail {
  const windows = st.cfg.topWindows;
  const tail: NodeTail = { windows: [], tops: [], correctedAds: [], correctedMinutes: [] };
  for (let wi = 0; wi < windows.length; wi++) tail.windows.push([r.f64(), r.f64()]);
  for (let wi = 0; wi < windows.length; wi++) {
    const lists: { end: number; list: TopList }[] = [];
    const k = r.count(12);
    for (let i = 0; i < k; i++) lists.push(readTopList(r, nAds));
    tail.tops.push(lists);
  }
  const nc = r.count(4);
  for (let i = 0; i < nc; i++) {
    const id = r.i32();
    if (id < 0 || id >= nAds || st.owner[id] !== n) invalid('bad corrected ad');
    tail.correctedAds.push(id);
  }
  const nm = r.count(8);
  for (let i = 0; i < nm; i++) tail.correctedMinutes.push(r.f64());
  return tail;
}

export function applyNodeTail(st: OperatorState, node: AggregateNode, tail: NodeTail): void {
  // tot = Σ retained panes in [lo, hi): rebuilt rather than stored
  tail.windows.forEach(([lo, hi], wi) => node.windows[wi]?.moveTo(lo, hi, node.panes));
  tail.tops.forEach((lists, wi) => {
    for (const { end, list } of lists) node.tops[wi]!.set(end, list);
  });
  for (const id of tail.correctedAds) node.noteCorrectedAd(id, st.corrected);
  for (const m of tail.correctedMinutes) node.correctedMinutes.add(m);
}

/** The complete state `st` as bytes (see the top of this file). */
export function writeSnapshot(st: OperatorState): Uint8Array {
  let entries = 0;
  for (const node of st.nodes)
    for (const p of node.panes)
      entries += (p.dense?.size ?? p.star.size) * 12 + (p.dims?.size ?? 0) * 16;
  const w = new ByteWriter(4096 + st.dedup.size * 24 + st.ads.size * 24 + entries);
  w.u32(SNAPSHOT_MAGIC);
  w.u16(SNAPSHOT_VERSION);
  writeConfig(w, st.cfg);
  w.u32(st.nodes.length);
  writeClock(w, st);
  const nAds = st.ads.size;
  w.u32(nAds);
  writeAds(w, st, 0, nAds);
  w.u32(st.dimValues.size);
  writeDims(w, st, 0, st.dimValues.size);
  for (const node of st.nodes) {
    w.u32(node.panes.length);
    for (const p of node.panes) writePane(w, p, node.localIds);
    writeNodeTail(w, node);
  }
  const at = w.pos;
  w.u32(0);
  let alive = 0;
  st.dedup.forEachAlive(st.W, (k0, k1, k2, k3, exp) => {
    w.i32(k0);
    w.i32(k1);
    w.i32(k2);
    w.i32(k3);
    w.f64(exp);
    alive++;
  });
  const bytes = w.view8();
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, alive, true);
  w.u32(murmur3x86_32(w.view8(), 0, w.pos));
  return w.view8().slice();
}

/** Loads snapshot bytes into `st`, a freshly constructed state under the same config. */
export function readSnapshot(st: OperatorState, bytes: Uint8Array): void {
  if (bytes.length < 10) invalid('too short');
  const body = bytes.length - 4;
  const sum = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(body, true);
  const r = new ByteReader(bytes, body);
  if (r.u32() !== SNAPSHOT_MAGIC) invalid('not an operator snapshot (bad magic)');
  const version = r.u16();
  if (version !== SNAPSHOT_VERSION) invalid(`unsupported version ${version}`);
  if (murmur3x86_32(bytes, 0, body) !== sum) invalid('checksum mismatch (corrupt or truncated)');
  checkConfig(r, st.cfg);
  const parts = r.u32();
  if (parts !== st.nodes.length)
    invalid(`taken with ${parts} partitions, restoring with ${st.nodes.length}`);
  const W = readClock(r, st);
  const nAds = r.count(5);
  readAds(r, st, 0, nAds, parts);
  const nDims = r.count(2);
  readDims(r, st, 0, nDims);
  for (const node of st.nodes) {
    const nPanes = r.count(17);
    let prev = -Infinity;
    for (let i = 0; i < nPanes; i++) {
      const p = readPane(r, nAds, nDims);
      if (p.minute <= prev) invalid('panes out of order');
      prev = p.minute;
      node.panes.push(p);
    }
    applyNodeTail(st, node, readNodeTail(r, st, node.id, nAds));
  }
  const nDedup = r.count(24);
  for (let i = 0; i < nDedup; i++) {
    const k0 = r.i32();
    const k1 = r.i32();
    const k2 = r.i32();
    const k3 = r.i32();
    const exp = r.f64();
    if (!(exp > W)) invalid('dead dedup entry');
    if (st.dedup.seen(k0, k1, k2, k3, exp, W)) invalid('repeated dedup key');
  }
  if (r.pos !== body) invalid(`${body - r.pos} stray bytes`);
}
