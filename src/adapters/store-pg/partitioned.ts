/**
 * The distributed mode's own tables (migration 3): per-partition operator snapshots of the
 * aggregator group, and the writer's commit (rows, late records, per-partition top-N
 * candidates, the global top N, offsets: one transaction).
 *
 * Why the snapshots live here and not in a compacted topic: PostgreSQL is already the one
 * place to back up, a snapshot is one small transaction of its own (it only has to be no newer
 * than the Kafka commit it reflects, which writing it after that commit guarantees), and large
 * states go in chunks as the embedded snapshot chain does, with no message-size limit to mind.
 */
import type pg from 'pg';
import { mergeTopLists } from '../../core/aggregate/top-n.js';
import { TallyError } from '../../core/errors.js';
import type { RankedAd, TopRow } from '../../ports/aggregates.js';
import { ALL_DIMS } from '../../ports/aggregates.js';
import {
  WRITER_CONSUMER,
  type PartitionSnapshot,
  type WriterBatch,
  type WriterState,
} from '../../ports/partitioned-aggregates.js';
import {
  decodeRanked,
  decodeWatermark,
  encodeRanked,
  encodeWatermark,
} from '../store-sqlite/codec.js';
import { commitBatch } from './commit.js';

type Q = Pick<pg.PoolClient, 'query'>;
const bytes = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export async function saveSnapshot(c: Q, s: string, snap: PartitionSnapshot): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7245))', [
    `${s}/${snap.partition}`,
  ]);
  const cur = await c.query<{ cycle: number }>(
    `SELECT cycle FROM ${s}.partition_snapshots WHERE partition_id = $1`,
    [snap.partition],
  );
  // a process that lost the partition may still save an older state: keep the newer one
  if ((cur.rows[0]?.cycle ?? -1) >= snap.cycle) return;
  await c.query(`DELETE FROM ${s}.partition_snapshot_chunks WHERE partition_id = $1`, [
    snap.partition,
  ]);
  let total = 0;
  for (let i = 0; i < snap.chunks.length; i++) {
    total += snap.chunks[i]!.byteLength;
    await c.query(
      `INSERT INTO ${s}.partition_snapshot_chunks (partition_id, chunk, data) VALUES ($1, $2, $3)`,
      [snap.partition, i, bytes(snap.chunks[i]!)],
    );
  }
  await c.query(
    `INSERT INTO ${s}.partition_snapshots
       (partition_id, clicks_offset, cycle, aggregates_offset, watermark, bytes, saved_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (partition_id) DO UPDATE SET clicks_offset = excluded.clicks_offset,
       cycle = excluded.cycle, aggregates_offset = excluded.aggregates_offset,
       watermark = excluded.watermark, bytes = excluded.bytes, saved_at = excluded.saved_at`,
    [
      snap.partition,
      snap.clicksOffset,
      snap.cycle,
      snap.aggregatesOffset,
      encodeWatermark(snap.watermark),
      total,
      Date.now(),
    ],
  );
}

export async function loadSnapshot(
  c: Q,
  s: string,
  partition: number,
): Promise<PartitionSnapshot | undefined> {
  const head = await c.query<{
    clicks_offset: number;
    cycle: number;
    aggregates_offset: number;
    watermark: number | null;
  }>(
    `SELECT clicks_offset, cycle, aggregates_offset, watermark FROM ${s}.partition_snapshots WHERE partition_id = $1`,
    [partition],
  );
  const h = head.rows[0];
  if (h === undefined) return undefined;
  const chunks = await c.query<{ chunk: number; data: Buffer }>(
    `SELECT chunk, data FROM ${s}.partition_snapshot_chunks WHERE partition_id = $1 ORDER BY chunk`,
    [partition],
  );
  chunks.rows.forEach((r, i) => {
    if (r.chunk !== i)
      throw new TallyError(
        'TALLY_SNAPSHOT_INVALID',
        `snapshot of partition ${partition}: chunk ${i} is missing`,
      );
  });
  return {
    partition,
    clicksOffset: h.clicks_offset,
    cycle: h.cycle,
    aggregatesOffset: h.aggregates_offset,
    watermark: decodeWatermark(h.watermark),
    chunks: chunks.rows.map(
      (r) => new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
    ),
  };
}

async function globalWatermark(c: Q, s: string, partitions: number): Promise<number> {
  const r = await c.query<{ n: number; w: number | null; nulls: number }>(
    `SELECT count(*)::int AS n, min(watermark) AS w, count(*) FILTER (WHERE watermark IS NULL)::int AS nulls
     FROM ${s}.partition_progress WHERE partition_id < $1`,
    [partitions],
  );
  const row = r.rows[0];
  if (row === undefined || row.n < partitions || row.nulls > 0) return -Infinity;
  return decodeWatermark(row.w);
}

/**
 * The writer's commit. Each partition's top lists are exact within it and ads live in one
 * partition each, so the global top N of a window is the merge of the partitions' lists:
 * written once every partition's watermark passed the window's end, and written again when a
 * partition corrects its list later (a late event within the allowed lateness), as the
 * embedded store re-emits a corrected list.
 */
export async function commitWriter(c: pg.PoolClient, s: string, b: WriterBatch): Promise<void> {
  // the lock commitBatch takes, taken first: a second writer waits here, then is fenced by seq
  await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7244))', [
    `${s}/${WRITER_CONSUMER}`,
  ]);
  const before = await globalWatermark(c, s, b.partitions);
  // (window, end, dimension value) of the lists to merge; d '*': every event
  const touched = new Map<string, { w: number; e: number; d: string }>();
  const key = (w: number, e: number, d: string) => `${w}/${e}/${d}`;
  const lateness = b.allowedLatenessMs;
  // Ends pruned by an earlier batch (see below) take no candidates: no partition can correct
  // them, and a list that still comes for one (a drain's last cycle closes the last minute of
  // any partition in every partition, often with nothing of its own there) would be merged
  // alone into the final list, replacing it.
  const pruned =
    lateness !== undefined && Number.isFinite(before)
      ? (t: TopRow) => t.endMinute + lateness <= before
      : () => false;
  const addCandidates = async (partition: number, all: readonly TopRow[]) => {
    const top = all.filter((t) => !pruned(t));
    if (top.length === 0) return;
    await c.query(
      `INSERT INTO ${s}.top_candidates (window_minutes, end_minute, dim, partition_id, ads)
       SELECT w, e, d, $1, a
       FROM unnest($2::int[], $3::bigint[], $4::text[], $5::text[]) AS u(w, e, d, a)
       ON CONFLICT (window_minutes, end_minute, dim, partition_id)
       DO UPDATE SET ads = excluded.ads`,
      [
        partition,
        top.map((t) => t.windowMinutes),
        top.map((t) => t.endMinute),
        top.map((t) => t.dim ?? ALL_DIMS),
        top.map((t) => encodeRanked(t.ads)),
      ],
    );
    for (const t of top) {
      const d = t.dim ?? ALL_DIMS;
      touched.set(key(t.windowMinutes, t.endMinute, d), { w: t.windowMinutes, e: t.endMinute, d });
    }
  };
  // per-value lists and '*' lists never share a key: their order between them is free
  for (const x of b.candidates ?? []) await addCandidates(x.partition, x.top);
  for (const cy of b.cycles) {
    await c.query(
      `INSERT INTO ${s}.partition_progress (partition_id, cycle, clicks_offset, watermark)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (partition_id) DO UPDATE SET cycle = excluded.cycle,
         clicks_offset = excluded.clicks_offset, watermark = excluded.watermark`,
      [cy.partition, cy.cycle, cy.to, encodeWatermark(cy.watermark)],
    );
    await addCandidates(cy.partition, cy.top);
  }
  const after = await globalWatermark(c, s, b.partitions);
  // windows whose end the global watermark passed now, and corrected ones it had passed
  if (after > before) {
    const r = await c.query<{ w: number; e: number; d: string }>(
      `SELECT DISTINCT window_minutes AS w, end_minute AS e, dim AS d FROM ${s}.top_candidates
       WHERE end_minute > $1 AND end_minute <= $2`,
      [Number.isFinite(before) ? before : -9e15, Number.isFinite(after) ? after : 9e15],
    );
    for (const x of r.rows) touched.set(key(x.w, x.e, x.d), x);
  }
  const due = [...touched.values()].filter((k) => k.e <= after);
  const top: TopRow[] = [];
  if (due.length > 0) {
    const r = await c.query<{ w: number; e: number; d: string; ads: string }>(
      `SELECT t.window_minutes AS w, t.end_minute AS e, t.dim AS d, t.ads
       FROM ${s}.top_candidates t
       JOIN unnest($1::int[], $2::bigint[], $3::text[]) AS k(w, e, d)
         ON t.window_minutes = k.w AND t.end_minute = k.e AND t.dim = k.d`,
      [due.map((k) => k.w), due.map((k) => k.e), due.map((k) => k.d)],
    );
    const lists = new Map<string, RankedAd[][]>();
    for (const x of r.rows) {
      const k = key(x.w, x.e, x.d);
      const l = lists.get(k) ?? [];
      l.push(decodeRanked(x.ads));
      lists.set(k, l);
    }
    for (const k of due) {
      const t: TopRow = {
        windowMinutes: k.w,
        endMinute: k.e,
        ads: mergeTopLists(lists.get(key(k.w, k.e, k.d)) ?? [], b.topN),
      };
      if (k.d !== ALL_DIMS) t.dim = k.d;
      top.push(t);
    }
  }
  if (lateness !== undefined && Number.isFinite(after) && after > before) {
    // merged above if due; no partition corrects these any more (each one's watermark is at
    // least the global one): with a list per dimension value they would pile up by the hundred
    await c.query(`DELETE FROM ${s}.top_candidates WHERE end_minute + $1 <= $2`, [lateness, after]);
  }
  const stats = { events: 0, duplicates: 0, late: 0 };
  for (const cy of b.cycles) {
    stats.events += cy.stats.events;
    stats.duplicates += cy.stats.duplicates;
    stats.late += cy.stats.late;
  }
  await commitBatch(c, s, {
    consumer: WRITER_CONSUMER,
    rows: b.rows,
    top,
    late: b.late,
    offsets: b.offsets,
    watermark: after,
    stats,
    expectedSeq: b.expectedSeq,
  });
  // the writer replays nothing: its offsets are the whole checkpoint
  await c.query(`DELETE FROM ${s}.cycles WHERE consumer = $1`, [WRITER_CONSUMER]);
}

export async function writerState(c: Q, s: string): Promise<WriterState> {
  const st = await c.query<{ seq: number; watermark: number | null }>(
    `SELECT seq, watermark FROM ${s}.consumer_state WHERE consumer = $1`,
    [WRITER_CONSUMER],
  );
  const off = await c.query<{ partition_id: number; next_offset: number }>(
    `SELECT partition_id, next_offset FROM ${s}.consumer_offsets WHERE consumer = $1`,
    [WRITER_CONSUMER],
  );
  const parts = await c.query<{
    partition_id: number;
    cycle: number;
    clicks_offset: number;
    watermark: number | null;
  }>(
    `SELECT partition_id, cycle, clicks_offset, watermark FROM ${s}.partition_progress ORDER BY partition_id`,
  );
  return {
    seq: st.rows[0]?.seq ?? 0,
    watermark: decodeWatermark(st.rows[0]?.watermark),
    offsets: new Map(off.rows.map((r) => [r.partition_id, r.next_offset])),
    partitions: parts.rows.map((r) => ({
      partition: r.partition_id,
      cycle: r.cycle,
      clicksOffset: r.clicks_offset,
      watermark: decodeWatermark(r.watermark),
    })),
  };
}
