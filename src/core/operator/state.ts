/**
 * The operator's state: everything a snapshot holds, shared by counting (counting.ts),
 * emission (emission.ts) and the snapshot format (snapshot.ts).
 *
 * Layout (no per-event objects; strings only at emission):
 * - ad ids interned to dense integers from the record bytes (ByteInterner); per-ad typed
 *   arrays: node, index within the node, corrected-mark, running window totals;
 * - dedup: DedupTable, 24-byte slots (f64 expiry + 4 × i32 key) in one ArrayBuffer;
 * - per node, per retained minute, a Pane: '*' counts (a DenseCounts array by node-local
 *   index while the minute is open and the node busy, a CountMap otherwise), (ad, dimension
 *   value) counts in a PairCountMap until the minute is final, dirty lists for corrections;
 *   panes are kept while a top window may still need them (minute + longest window +
 *   lateness > W);
 * - per node and window: WindowSums (running totals and the list of non-zero ads) and the
 *   top list of every end that can still be corrected.
 */
import { TallyError } from '../errors.js';
import { grownInt32, grownUint8 } from '../aggregate/grow.js';
import { ByteInterner } from '../aggregate/interner.js';
import { DimensionValues } from '../aggregate/dimensions.js';
import { SharedTotals } from '../aggregate/window-sums.js';
import { DedupTable } from '../dedup/dedup-table.js';
import type { PartitionProgress } from '../watermark/watermark.js';
import { MINUTE_MS } from '../window/minute.js';
import type { AggregatorConfig } from './config.js';
import type { ChainInfo } from './incremental.js';
import type { EngineTuning, Pane } from './node.js';
import { AggregateNode } from './node.js';
import { DimTops } from './dim-tops.js';

export interface Progress extends PartitionProgress {
  nextOffset: number;
}

export class OperatorState {
  /** the pipeline watermark (−Infinity before the first onWatermark) */
  W = -Infinity;
  /** wall clock at construction; a restored operator keeps its original one (snapshot) */
  startedAt: number;
  readonly nodes: AggregateNode[] = [];
  readonly progress: Progress[] = [];
  readonly dedup = new DedupTable(1024);
  readonly ads: ByteInterner;
  /** ad id → node it is counted in, and its index there */
  owner: Int32Array;
  local: Int32Array;
  /** ad id → 1 while the ad is in its node's corrected list */
  corrected: Uint8Array;
  /** ad id → its text, made at its first emission */
  readonly adTexts: (string | undefined)[] = [];
  readonly dimValues = new DimensionValues();
  /** per configured window: totals by ad id, or null for a 1-minute window */
  readonly shared: (SharedTotals | null)[];
  readonly longestWindowMs: number;
  /** top lists per dimension value (dim-tops.ts) */
  readonly dimTops: DimTops;
  /** the incremental snapshot chain this state extends (incremental.ts); null: none yet */
  chain: ChainInfo | null = null;
  /** ads and dimension values the chain holds (ids below these) */
  savedAds = 0;
  savedDims = 0;
  /** final panes the chain holds as they are: a delta refers to them by minute */
  readonly savedPanes = new WeakSet<Pane>();

  constructor(
    readonly cfg: AggregatorConfig,
    partitions: number,
    now: number,
    tuning: EngineTuning,
  ) {
    // a new operator has heard nothing yet: the wall-clock rule waits idleTimeout from here
    this.startedAt = now;
    const ads = Math.max(1, tuning.initialAds ?? 4096);
    this.ads = new ByteInterner(ads);
    this.owner = new Int32Array(ads);
    this.local = new Int32Array(ads);
    this.corrected = new Uint8Array(ads);
    const windows = cfg.topWindows;
    // sized like the other per-ad arrays, and grown with them (newAd)
    this.shared = windows.map((m) => (m === 1 ? null : new SharedTotals(this.owner.length)));
    for (let p = 0; p < partitions; p++) {
      this.nodes.push(new AggregateNode(p, windows, this.shared, tuning));
      this.progress.push({ maxEventTime: undefined, lastArrival: undefined, nextOffset: 0 });
    }
    this.longestWindowMs = Math.max(1, ...windows) * MINUTE_MS;
    this.dimTops = new DimTops(this);
  }

  progressOf(partition: number): Progress {
    const p = this.progress[partition];
    if (p === undefined || !Number.isInteger(partition))
      throw new TallyError(
        'TALLY_INTERNAL',
        `partition ${partition} is out of range 0…${this.nodes.length - 1}`,
      );
    return p;
  }

  /** Makes room for `ads` ads at once (a restore knows how many). */
  reserveAds(ads: number): void {
    this.ads.reserve(ads);
    if (ads > this.owner.length) {
      const owner = new Int32Array(ads);
      owner.set(this.owner);
      this.owner = owner;
      const local = new Int32Array(ads);
      local.set(this.local);
      this.local = local;
      const corrected = new Uint8Array(ads);
      corrected.set(this.corrected);
      this.corrected = corrected;
      for (const s of this.shared) s?.ensure(ads);
    }
  }

  /** Ad `id` (just interned) is counted in node `partition` from now on. */
  newAd(id: number, partition: number): void {
    if (id >= this.owner.length) {
      // ids come one at a time: the per-ad arrays double together
      this.owner = grownInt32(this.owner, id + 1);
      this.local = grownInt32(this.local, id + 1);
      this.corrected = grownUint8(this.corrected, id + 1);
      for (const s of this.shared) s?.ensure(this.owner.length);
    }
    this.owner[id] = partition;
    this.local[id] = this.nodes[partition]!.addAd(id);
    this.adTexts.push(undefined);
  }

  adText(id: number): string {
    let s = this.adTexts[id];
    if (s === undefined) {
      s = this.ads.text(id);
      this.adTexts[id] = s;
    }
    return s;
  }
}
