/**
 * Pieces of the operator snapshot format (version 1, little-endian, see ClickAggregator.snapshot
 * for the order): config fingerprint, panes and their count maps, top lists. Count maps are
 * written in entry order and rebuilt by re-adding, so entry indexes (and the dirty lists that
 * refer to them) come back identical.
 */
import type { AggregatorConfig } from './config.js';
import { CountMap, PairCountMap } from '../aggregate/count-map.js';
import type { ByteReader, ByteWriter } from './binary.js';
import { invalid } from './binary.js';
import type { Pane, TopList } from './node.js';
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
  for (let e = 0; e < m.size; e++) w.i32(m.countAt(e));
  w.u32(m.dirty.count);
  w.i32s(m.dirty.list, m.dirty.count);
}

export function readCountMap(r: ByteReader, maxKey: number): CountMap {
  const n = r.count(8);
  const keys = readI32s(r, n);
  const counts = readI32s(r, n);
  const m = new CountMap(Math.max(n, 8));
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    const c = counts[i]!;
    if (k < 0 || k >= maxKey || c <= 0) invalid(`bad count entry (${k}, ${c})`);
    if (m.add(k, c) !== i) invalid(`repeated key ${k} in a count map`);
  }
  readDirty(r, n, (e) => m.dirty.add(e));
  return m;
}

function readI32s(r: ByteReader, n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.i32();
  return a;
}

export function writePairMap(w: ByteWriter, m: PairCountMap): void {
  w.u32(m.size);
  w.i32s(m.keysA, m.size);
  w.i32s(m.keysB, m.size);
  for (let e = 0; e < m.size; e++) w.i32(m.countAt(e));
  w.u32(m.dirty.count);
  w.i32s(m.dirty.list, m.dirty.count);
}

export function readPairMap(r: ByteReader, maxA: number, maxB: number): PairCountMap {
  const n = r.count(12);
  const as = readI32s(r, n);
  const bs = readI32s(r, n);
  const cs = readI32s(r, n);
  const m = new PairCountMap(Math.max(n, 8));
  for (let i = 0; i < n; i++) {
    const a = as[i]!;
    const b = bs[i]!;
    const c = cs[i]!;
    if (a < 0 || a >= maxA || b < 0 || b >= maxB || c <= 0)
      invalid(`bad dimension entry (${a}, ${b}, ${c})`);
    if (m.add(a, b, c) !== i) invalid(`repeated key (${a}, ${b}) in a dimension map`);
  }
  readDirty(r, n, (e) => m.dirty.add(e));
  return m;
}

function readDirty(r: ByteReader, entries: number, add: (e: number) => void): void {
  const n = r.count(4);
  for (let i = 0; i < n; i++) {
    const e = r.i32();
    if (e < 0 || e >= entries) invalid(`dirty entry ${e} out of range`);
    add(e);
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
