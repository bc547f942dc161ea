/**
 * Recovery, status and query reads. Checkpoint and status reads run in one REPEATABLE READ
 * transaction each, so they see one consistent commit; queries are single statements.
 */
import type pg from 'pg';
import { TallyError } from '../../core/errors.js';
import type { ConsumerStatus, DimFilter, StoreStatus } from '../../ports/aggregate-reader.js';
import type { Checkpoint } from '../../ports/aggregate-sink.js';
import type { DimKey, LateRecord, MinuteRow, RankedAd, TopRow } from '../../ports/aggregates.js';
import { ALL_DIMS } from '../../ports/aggregates.js';
import {
  ceilToMinute,
  decodeOffsets,
  decodeRanked,
  decodeLateRow,
  decodeWatermark,
  type LateEventRow,
  totalsOf,
  type ConsumerStateRow,
} from '../store-sqlite/codec.js';

type Q = Pick<pg.PoolClient, 'query'>;

async function offsetsOf(c: Q, s: string, consumer: string): Promise<Map<number, number>> {
  const r = await c.query<{ partition_id: number; next_offset: number }>(
    `SELECT partition_id, next_offset FROM ${s}.consumer_offsets WHERE consumer = $1 ORDER BY partition_id`,
    [consumer],
  );
  return new Map(r.rows.map((x) => [x.partition_id, x.next_offset]));
}

/** The incremental snapshot: piece 0 the base, then the deltas, each as its chunks in order. */
async function chainOf(c: Q, s: string, consumer: string): Promise<Uint8Array[][]> {
  const r = await c.query<{ piece: number; chunk: number; data: Buffer }>(
    `SELECT piece, chunk, data FROM ${s}.snapshot_chunks WHERE consumer = $1 ORDER BY piece, chunk`,
    [consumer],
  );
  const pieces: Uint8Array[][] = [];
  for (const x of r.rows) {
    if (x.piece !== pieces.length - 1) pieces.push([]);
    const list = pieces[pieces.length - 1]!;
    if (x.piece !== pieces.length - 1 || x.chunk !== list.length)
      throw new TallyError(
        'TALLY_SNAPSHOT_INVALID',
        `operator snapshot: chunk ${x.chunk} of piece ${x.piece} is missing`,
      );
    list.push(new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
  }
  return pieces;
}

export async function loadCheckpoint(c: Q, s: string, consumer: string): Promise<Checkpoint> {
  const state = await c.query<ConsumerStateRow>(
    `SELECT consumer, seq, watermark, events, duplicates, late FROM ${s}.consumer_state WHERE consumer = $1`,
    [consumer],
  );
  const snap = await c.query<{
    seq: number;
    offsets: string;
    watermark: number | null;
    state: Buffer;
    format: number;
  }>(`SELECT seq, offsets, watermark, state, format FROM ${s}.snapshots WHERE consumer = $1`, [
    consumer,
  ]);
  const st = state.rows[0];
  const sn = snap.rows[0];
  const snapshotSeq = sn?.seq ?? 0;
  const cycles = await c.query<{ seq: number; offsets: string; watermark: number | null }>(
    `SELECT seq, offsets, watermark FROM ${s}.cycles WHERE consumer = $1 AND seq > $2 ORDER BY seq`,
    [consumer, snapshotSeq],
  );
  return {
    seq: st?.seq ?? 0,
    snapshotSeq,
    snapshotOffsets: sn === undefined ? new Map() : decodeOffsets(sn.offsets),
    snapshotWatermark: decodeWatermark(sn?.watermark),
    // a view, not a copy: the port speaks Uint8Array, the driver returns a Buffer
    snapshot:
      sn === undefined || sn.format === 2
        ? undefined
        : new Uint8Array(sn.state.buffer, sn.state.byteOffset, sn.state.byteLength),
    snapshotChain: sn?.format === 2 ? await chainOf(c, s, consumer) : [],
    cycles: cycles.rows.map((x) => ({
      seq: x.seq,
      offsets: decodeOffsets(x.offsets),
      watermark: decodeWatermark(x.watermark),
    })),
    offsets: await offsetsOf(c, s, consumer),
    watermark: decodeWatermark(st?.watermark),
    totals: totalsOf(st),
  };
}

export async function status(c: Q, s: string): Promise<StoreStatus> {
  const states = await c.query<ConsumerStateRow>(
    `SELECT consumer, seq, watermark, events, duplicates, late FROM ${s}.consumer_state ORDER BY consumer`,
  );
  const snaps = await c.query<{ consumer: string; seq: number; offsets: string }>(
    `SELECT consumer, seq, offsets FROM ${s}.snapshots`,
  );
  const bySnap = new Map(snaps.rows.map((r) => [r.consumer, r]));
  const consumers: ConsumerStatus[] = [];
  for (const st of states.rows) {
    consumers.push({
      consumer: st.consumer,
      seq: st.seq,
      snapshotSeq: bySnap.get(st.consumer)?.seq ?? 0,
      snapshotOffsets: decodeOffsets(bySnap.get(st.consumer)?.offsets ?? '{}'),
      offsets: await offsetsOf(c, s, st.consumer),
      watermark: decodeWatermark(st.watermark),
      totals: totalsOf(st),
    });
  }
  const late = await c.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM ${s}.late_events`);
  return { consumers, lateRecords: late.rows[0]?.n ?? 0 };
}

/** Distinct values only: `country=US,US` must not count US twice. */
function dimsOf(filter: DimFilter | undefined): DimKey[] {
  return filter === undefined ? [ALL_DIMS] : [...new Set(filter.dims)];
}

const LIMIT = Number.MAX_SAFE_INTEGER;
/** A range bound as a bigint parameter: rows sit on minute starts, so m ≥ from ⇔ m ≥ ⌈from⌉. */
const lowerBound = (from: number) =>
  from === -Infinity ? -LIMIT : Math.max(-LIMIT, Math.min(LIMIT, ceilToMinute(from)));
/** m < to ⇔ m < ⌈to⌉ for whole m */
const upperBound = (to: number) =>
  to === Infinity ? LIMIT : Math.max(-LIMIT, Math.min(LIMIT, Math.ceil(to)));

export function queries(c: Q, s: string) {
  return {
    async count(adId: string, from: number, to: number, filter?: DimFilter): Promise<number> {
      const dims = dimsOf(filter);
      if (dims.length === 0 || !(from < to)) return 0;
      const r = await c.query<{ n: number }>(
        `SELECT COALESCE(sum(count), 0)::bigint AS n FROM ${s}.minute_counts
         WHERE ad_id = $1 AND dim = ANY($2::text[]) AND minute >= $3 AND minute < $4`,
        [adId, dims, lowerBound(from), upperBound(to)],
      );
      return r.rows[0]?.n ?? 0;
    },
    async timeseries(adId: string, from: number, to: number, filter?: DimFilter) {
      const dims = dimsOf(filter);
      if (dims.length === 0 || !(from < to)) return [];
      const r = await c.query<{ minute: number; count: number }>(
        `SELECT minute, sum(count)::bigint AS count FROM ${s}.minute_counts
         WHERE ad_id = $1 AND dim = ANY($2::text[]) AND minute >= $3 AND minute < $4
         GROUP BY minute ORDER BY minute`,
        [adId, dims, lowerBound(from), upperBound(to)],
      );
      return r.rows;
    },
    async top(from: number, to: number, n: number, filter?: DimFilter): Promise<RankedAd[]> {
      const dims = dimsOf(filter);
      const limit = Math.floor(n);
      if (dims.length === 0 || !(from < to) || !(limit > 0)) return [];
      const r = await c.query<RankedAd>(
        `SELECT ad_id AS "adId", sum(count)::bigint AS count FROM ${s}.minute_counts
         WHERE dim = ANY($1::text[]) AND minute >= $2 AND minute < $3
         GROUP BY ad_id ORDER BY count DESC, ad_id ASC LIMIT $4`,
        [dims, lowerBound(from), upperBound(to), limit],
      );
      return r.rows;
    },
    async rows(from: number, to: number, dim: DimKey): Promise<MinuteRow[]> {
      if (!(from < to)) return [];
      const r = await c.query<MinuteRow>(
        `SELECT minute, ad_id AS "adId", dim, count FROM ${s}.minute_counts
         WHERE dim = $1 AND minute >= $2 AND minute < $3 ORDER BY minute, ad_id`,
        [dim, lowerBound(from), upperBound(to)],
      );
      return r.rows;
    },
    async storedTop(
      windowMinutes: number,
      endMinute: number,
      dim: DimKey = ALL_DIMS,
    ): Promise<TopRow | undefined> {
      const r = await c.query<{ ads: string }>(
        `SELECT ads FROM ${s}.most_clicked_ads
         WHERE window_minutes = $1 AND end_minute = $2 AND dim = $3`,
        [windowMinutes, endMinute, dim],
      );
      const ads = r.rows[0]?.ads;
      if (ads === undefined) return undefined;
      const t: TopRow = { windowMinutes, endMinute, ads: decodeRanked(ads) };
      if (dim !== ALL_DIMS) t.dim = dim;
      return t;
    },
    async late(
      limit: number,
      after?: { partition: number; offset: number },
    ): Promise<LateRecord[]> {
      const n = Math.floor(limit);
      if (!(n > 0)) return [];
      const r = await c.query<LateEventRow>(
        `SELECT partition_id, log_offset, ad_id, event_time, event_id, watermark, raw, arrived_at
         FROM ${s}.late_events WHERE (partition_id, log_offset) > ($1, $2)
         ORDER BY partition_id, log_offset LIMIT $3`,
        [after?.partition ?? -1, after?.offset ?? -1, n],
      );
      return r.rows.map(decodeLateRow);
    },
  };
}
