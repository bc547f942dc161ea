/**
 * Incremental operator snapshots: a chain of pieces, one BASE (the whole state) followed by
 * DELTAS (what changed since the piece before), so the bytes a snapshot writes follow the
 * change since the last one rather than the size of the state.
 *
 * What a delta holds, part by part:
 * - progress, watermark: in full (a few bytes per partition);
 * - ads and dimension values: only those interned since the last piece (ids are dense and
 *   never reused, so the chain's are a prefix);
 * - panes: a minute that is final (its end + lateness ≤ W: nothing can change it) and was
 *   written final by an earlier piece is a reference (its minute); every other pane in full.
 *   Panes absent from the list are gone. Running window totals are rebuilt from the panes;
 *   top lists and the corrections pending are in full (bounded by the lateness);
 * - dedup: the slots written since the last piece (DedupTable change tracking), each as its
 *   index and its 24 bytes, in slot order (a restore writes the table front to back). A base
 *   holds the slot array as it is in memory, so a restore reads it into place: a store that
 *   reads the base's slot chunks into one buffer (their region, below) hands back the table
 *   itself, with no placement, no re-insertion and no copy (version 2 held the occupied slots
 *   only, a bitmap then their bytes: half the bytes, but placing 60M slots into a fresh
 *   3 GB array took seconds); a rebuild of the table (growth) forces the next piece to be a
 *   base.
 *
 * Piece layout, little-endian: chunk 0 is a directory (u32 header chunks, u32 slot chunks,
 * u32 of those the bitmap's; version 1 had no third word);
 * the header chunks concatenated are
 *   u32 magic "TLYB", u16 version, u8 kind (0 base, 1 delta), config, u32 partitions, f64 W,
 *   f64 startedAt, per partition: f64 maxEventTime, f64 lastArrival, f64 nextOffset;
 *   u32 adsFrom, u32 adsTo, per ad: u8 length, bytes, u32 node;
 *   u32 dimsFrom, u32 dimsTo, per value: u16 length, bytes;
 *   per node: u32 panes, each: f64 minute, u8 (0 full pane follows | 1 the chain's);
 *     windows (f64 lo, f64 hi), top lists, corrected ads and minutes (as snapshot.ts);
 *   dedup: u32 capacity, u32 used, u32 buckets × (f64 bucket, f64 entries),
 *     delta: u32 changes (version 1: followed by the records, see below);
 *   u32 murmur3 of the header before it.
 * The slot chunks of a base are DedupTable.slotBytes, the slot array (version 3, the third
 * directory word 0; version 2: the occupancy bitmap's chunks, then the occupied slots';
 * version 1: the slot array); of a delta, the changed slots as records (i32 slot, f64
 * expiry, 4 × i32 key) in slot order. The store checksums every chunk. A base's slot chunks
 * are a region (SnapshotPiece.regions): one allocation's worth, read back as one buffer.
 */
import { murmur3x86_32, murmur3x86_32Steps } from '../event/hash.js';
import { MINUTE_MS } from '../window/minute.js';
import { ByteReader, ByteWriter, invalid } from './binary.js';
import type { Pane } from './node.js';
import {
  applyNodeTail,
  checkConfig,
  readAds,
  readClock,
  readDims,
  readNodeTail,
  readPane,
  writeAds,
  writeClock,
  writeConfig,
  writeDims,
  writeNodeTail,
  writePane,
  type NodeTail,
} from './snapshot.js';
import type { OperatorState } from './state.js';

export const PIECE_MAGIC = 0x42594c54; // "TLYB" read as little-endian u32
/**
 * 3: a base holds the dedup slot array as it is in memory; 2: the occupied slots only, and
 * 1: the slot array with a delta's records in its header (both still read)
 */
export const PIECE_VERSION = 3;
/**
 * Chunks are kept well under SQLite's 1 GB blob limit, and small enough that storing one
 * (a statement that holds the thread) takes a few ms: a commit stores one per loop turn.
 * A reader takes chunks of any size (this was 64 MiB).
 */
export const MAX_CHUNK_BYTES = 2 * 1024 * 1024;

export interface SnapshotPiece {
  /** a base replaces the chain; a delta is appended to it */
  base: boolean;
  chunks: Uint8Array[];
  /**
   * Indexes of chunks that start a region: the chunks from one to the next (or the end) are
   * one array in memory, and a store that reads them back into one buffer, back to back (each
   * at a multiple of 8), lets a restore take them as they are (the dedup slot array of a base)
   */
  regions: number[];
  bytes: number;
}

/** What the operator knows of the chain its snapshots extend (null: none; next is a base). */
export interface ChainInfo {
  /** the base's bytes, its empty dedup slots not counted (the compaction ratio's measure) */
  baseBytes: number;
  deltaBytes: number;
  deltas: number;
}

/** final: nothing can change the pane any more, so the chain's copy stays right */
function isFinal(st: OperatorState, p: Pane): boolean {
  return p.minute + MINUTE_MS + st.cfg.allowedLatenessMs <= st.W && !p.dirty && p.dense === null;
}

/** Writes the next piece of the chain: a base if `base`, else a delta since the last piece. */
export function writePiece(st: OperatorState, base: boolean): SnapshotPiece {
  const steps = pieceSteps(st, base);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * About how much encoding one step of pieceSteps does: ads, pane entries or dedup slots
 * (a few ms of work each on one core).
 */
export const PIECE_STEP = 1 << 16;

/**
 * writePiece in steps: it yields between slices of the work (ads, panes, dedup slots) and
 * returns the piece, the same bytes as writePiece. A driver may run other tasks between
 * steps, as long as none of them changes the state (the operator is not fed meanwhile);
 * the state is marked as saved only once the last step has run.
 */
export function* pieceSteps(st: OperatorState, base: boolean): Generator<void, SnapshotPiece> {
  if (!base && (st.chain === null || st.dedup.relocated))
    throw new Error('a delta needs a chain and an unmoved dedup table');
  const changes = base ? 0 : st.dedup.changedSlots;
  const adsFrom = base ? 0 : st.savedAds;
  const dimsFrom = base ? 0 : st.savedDims;
  let entries = 0;
  for (const node of st.nodes)
    for (const p of node.panes)
      if (base || !st.savedPanes.has(p))
        entries += (p.dense?.size ?? p.star.size) * 12 + (p.dims?.size ?? 0) * 16;
  const w = new ByteWriter(4096 + (st.ads.size - adsFrom) * 24 + entries);
  w.u32(PIECE_MAGIC);
  w.u16(PIECE_VERSION);
  w.u8(base ? 0 : 1);
  writeConfig(w, st.cfg);
  w.u32(st.nodes.length);
  writeClock(w, st);
  const nAds = st.ads.size;
  w.u32(adsFrom);
  w.u32(nAds);
  for (let at = adsFrom; at < nAds; at += PIECE_STEP) {
    writeAds(w, st, at, Math.min(nAds, at + PIECE_STEP));
    yield;
  }
  const nDims = st.dimValues.size;
  w.u32(dimsFrom);
  w.u32(nDims);
  writeDims(w, st, dimsFrom, nDims);
  const saved: Pane[] = [];
  for (const node of st.nodes) {
    w.u32(node.panes.length);
    for (const p of node.panes) {
      w.f64(p.minute);
      if (!base && st.savedPanes.has(p)) {
        w.u8(1);
        continue;
      }
      w.u8(0);
      writePane(w, p, node.localIds);
      if (isFinal(st, p)) saved.push(p);
      yield;
    }
    writeNodeTail(w, node);
  }
  const dedup = st.dedup;
  w.u32(dedup.capacity);
  w.u32(dedup.size);
  const buckets = dedup.bucketCounts();
  w.u32(buckets.length);
  for (const [b, n] of buckets) {
    w.f64(b);
    w.f64(n);
  }
  if (!base) w.u32(changes);
  w.u32(yield* murmur3x86_32Steps(w.view8(), 0, w.pos, PIECE_STEP * 64));
  const header = w.view8();
  const headerChunks: Uint8Array[] = [];
  for (let at = 0; at < header.length; at += MAX_CHUNK_BYTES)
    headerChunks.push(header.subarray(at, Math.min(header.length, at + MAX_CHUNK_BYTES)));
  // the slots go in chunks of their own, read in place: not concatenated, not hashed here
  // (the store checks every chunk)
  yield;
  // a base's slots are views of the table (valid until it next changes: the piece is stored
  // before the operator is fed again)
  const slotChunks = base
    ? dedup.slotBytes(MAX_CHUNK_BYTES)
    : yield* dedup.changeRecordSteps(MAX_CHUNK_BYTES);
  const dir = new Uint8Array(12);
  const dv = new DataView(dir.buffer);
  dv.setUint32(0, headerChunks.length, true);
  dv.setUint32(4, slotChunks.length, true);
  dv.setUint32(8, 0, true);
  const chunks = [dir, ...headerChunks, ...slotChunks];
  let bytes = 0;
  for (const c of chunks) bytes += c.length;
  // the compaction ratio weighs deltas against what a base holds, not its empty slots (those
  // cost a read and nothing else): bases come as often as when they held the occupied slots
  const weight = base ? bytes - (dedup.capacity - dedup.size) * 24 : bytes;

  // the state as of now is what the chain holds
  for (const p of saved) st.savedPanes.add(p);
  st.savedAds = nAds;
  st.savedDims = nDims;
  dedup.resetChanges();
  st.chain = base
    ? { baseBytes: weight, deltaBytes: 0, deltas: 0 }
    : { ...st.chain!, deltaBytes: st.chain!.deltaBytes + weight, deltas: st.chain!.deltas + 1 };
  return { base, chunks, regions: base ? [1 + headerChunks.length] : [], bytes };
}

/** The chunks copied into one new buffer (never a view of them). */
function concatCopy(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  // chunks read back to back into one buffer (a store's piece file): a view, not a copy
  const first = chunks[0];
  if (first !== undefined) {
    let end = first.byteOffset + first.length;
    let i = 1;
    for (; i < chunks.length; i++) {
      const c = chunks[i]!;
      if (c.buffer !== first.buffer || c.byteOffset !== end) break;
      end += c.length;
    }
    if (i === chunks.length)
      return new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset);
  }
  return concatCopy(chunks);
}

/** A pane's full copy in a piece's header, read once the chain's last list is known. */
interface PaneAt {
  header: Uint8Array;
  body: number;
  at: number;
  ads: number;
  dims: number;
}

/** Moves past a pane as writePane wrote it (snapshot.ts), checking only the bounds. */
function skipPane(r: ByteReader): void {
  r.f64();
  const flags = r.u8();
  const n = r.count(8);
  r.bytes(n * 8);
  r.bytes(r.count(4) * 4);
  if ((flags & 4) !== 0) {
    const m = r.count(12);
    r.bytes(m * 12);
    r.bytes(r.count(4) * 4);
  }
}

/**
 * Loads a chain (its pieces, base first, each as its chunks) into `st`, a freshly constructed
 * state under the same config. Bad bytes throw TALLY_SNAPSHOT_INVALID. `own`: the chunks are
 * the caller's to give away (a store's fresh read): the base's dedup slot array is taken as
 * it is, and becomes the table; otherwise it is copied.
 */
export function readChain(
  st: OperatorState,
  pieces: readonly (readonly Uint8Array[])[],
  own = false,
): void {
  if (pieces.length === 0) invalid('empty snapshot chain');
  const parts = st.nodes.length;
  // where each pane's latest full copy is; only those of the last piece's list are read (a
  // pane not yet final is written again by every delta: the earlier copies are skipped)
  let panes: Map<number, PaneAt>[] = st.nodes.map(() => new Map());
  let tails: NodeTail[] = [];
  let baseBytes = 0;
  let deltaBytes = 0;
  pieces.forEach((chunks, index) => {
    let pieceBytes = 0;
    for (const c of chunks) pieceBytes += c.length;
    if (index === 0) baseBytes = pieceBytes;
    else deltaBytes += pieceBytes;
    const dirChunk = chunks[0];
    // version 1 wrote 8 bytes (no bitmap: the whole slot array), version 2 writes 12
    if (dirChunk === undefined || (dirChunk.length !== 8 && dirChunk.length !== 12))
      invalid('bad piece directory');
    const dv = new DataView(dirChunk.buffer, dirChunk.byteOffset, dirChunk.length);
    const nHeader = dv.getUint32(0, true);
    const nSlots = dv.getUint32(4, true);
    const nBitmap = dirChunk.length === 12 ? dv.getUint32(8, true) : -1;
    if (nHeader < 1 || 1 + nHeader + nSlots !== chunks.length || nBitmap > nSlots)
      invalid('bad piece directory');
    const header = concat(chunks.slice(1, 1 + nHeader));
    if (header.length < 12) invalid('piece too short');
    const body = header.length - 4;
    const sum = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(
      body,
      true,
    );
    const r = new ByteReader(header, body);
    if (r.u32() !== PIECE_MAGIC) invalid('not a snapshot piece (bad magic)');
    const version = r.u16();
    if (version < 1 || version > PIECE_VERSION) invalid(`unsupported piece version ${version}`);
    if ((version === 1) !== nBitmap < 0 || (version === 3 && nBitmap !== 0))
      invalid('piece directory of another version');
    if (murmur3x86_32(header, 0, body) !== sum) invalid('checksum mismatch (corrupt or truncated)');
    const kind = r.u8();
    if (kind !== (index === 0 ? 0 : 1))
      invalid(index === 0 ? 'the chain does not start with a base' : 'a base inside the chain');
    checkConfig(r, st.cfg);
    if (r.u32() !== parts) invalid(`taken with other partitions than ${parts}`);
    readClock(r, st);
    const adsFrom = r.u32();
    const nAds = r.u32();
    if (adsFrom !== st.ads.size || nAds < adsFrom)
      invalid(`ads from ${adsFrom} after ${st.ads.size}`);
    readAds(r, st, adsFrom, nAds, parts);
    const dimsFrom = r.u32();
    const nDims = r.u32();
    if (dimsFrom !== st.dimValues.size || nDims < dimsFrom) invalid('dimension values out of step');
    readDims(r, st, dimsFrom, nDims);
    const nextPanes: Map<number, PaneAt>[] = [];
    const nextTails: NodeTail[] = [];
    for (let n = 0; n < parts; n++) {
      const mine = new Map<number, PaneAt>();
      const count = r.count(9);
      let prev = -Infinity;
      for (let i = 0; i < count; i++) {
        const minute = r.f64();
        if (!(minute > prev)) invalid('panes out of order');
        prev = minute;
        const ref = r.u8();
        if (ref === 1) {
          const p = panes[n]!.get(minute);
          if (p === undefined || index === 0) invalid(`pane ${minute} refers to none`);
          mine.set(minute, p);
        } else {
          mine.set(minute, { header, body, at: r.pos, ads: nAds, dims: nDims });
          skipPane(r);
        }
      }
      nextPanes.push(mine);
      nextTails.push(readNodeTail(r, st, n, nAds));
    }
    panes = nextPanes;
    tails = nextTails;
    const capacity = r.u32();
    const used = r.u32();
    const nb = r.count(16);
    const buckets: [number, number][] = [];
    for (let i = 0; i < nb; i++) buckets.push([r.f64(), r.f64()]);
    if (index === 0) {
      const from = 1 + nHeader;
      const ok =
        version === 3
          ? own
            ? st.dedup.loadRaw(capacity, used, buckets, chunks.slice(from))
            : st.dedup.loadRaw(capacity, used, buckets, [concatCopy(chunks.slice(from))])
          : nBitmap < 0
            ? st.dedup.loadSlots(capacity, used, buckets, chunks.slice(from))
            : st.dedup.loadPacked(
                capacity,
                used,
                buckets,
                chunks.slice(from, from + nBitmap),
                chunks.slice(from + nBitmap),
              );
      if (!ok) invalid('dedup slots do not match their header');
      // as pieceSteps weighs a base: its empty slots not counted
      if (version === 3) baseBytes -= (capacity - used) * 24;
    } else {
      if (capacity !== st.dedup.capacity || nBitmap > 0 || (nBitmap < 0 && nSlots !== 0))
        invalid('a delta resized the dedup table');
      if (nBitmap < 0) {
        const nc = r.count(28);
        const at = r.pos;
        r.bytes(nc * 28);
        if (!st.dedup.putSlots(header, at, nc)) invalid('a dedup slot out of range');
      } else {
        let left = r.u32();
        for (const c of chunks.slice(1 + nHeader)) {
          const nc = c.length / 28;
          if (!Number.isInteger(nc) || nc > left) invalid('dedup slot records do not add up');
          if (!st.dedup.putSlots(c, 0, nc)) invalid('a dedup slot out of range');
          left -= nc;
        }
        if (left !== 0) invalid('dedup slot records missing');
      }
      if (!st.dedup.setBookkeeping(used, buckets)) invalid('dedup entries do not add up');
    }
    if (r.pos !== body) invalid(`${body - r.pos} stray bytes`);
  });
  for (let n = 0; n < parts; n++) {
    const node = st.nodes[n]!;
    for (const [minute, at] of panes[n]!) {
      const r = new ByteReader(at.header, at.body);
      r.pos = at.at;
      const p = readPane(r, at.ads, at.dims);
      if (p.minute !== minute) invalid('pane minute mismatch');
      node.panes.push(p);
    }
    applyNodeTail(st, node, tails[n]!);
    // every pane is as the chain holds it: the final ones never change again
    for (const p of node.panes) if (isFinal(st, p)) st.savedPanes.add(p);
  }
  st.savedAds = st.ads.size;
  st.savedDims = st.dimValues.size;
  st.dedup.resetChanges();
  st.chain = { baseBytes, deltaBytes, deltas: pieces.length - 1 };
}
