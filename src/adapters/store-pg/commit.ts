/**
 * The one write path: a whole aggregator (or writer) cycle in a single transaction. As in the
 * embedded store, rows carry absolute counts (an upsert, never an increment), late records are
 * keyed by their log position, and totals accumulate in the same transaction as the offsets
 * they account for. Every table is written with one `unnest` statement, whatever the batch
 * size: one round trip per table, not per row.
 */
import type pg from 'pg';
import { TallyError } from '../../core/errors.js';
import type { CommitBatch, SnapshotPieceBatch } from '../../ports/aggregate-sink.js';
import { ALL_DIMS } from '../../ports/aggregates.js';
import {
  checkCommitFence,
  encodeOffsets,
  encodeRanked,
  encodeWatermark,
} from '../store-sqlite/codec.js';

/** The last of each key wins, as it would row by row: one statement may not touch a row twice. */
function lastByKey<T>(items: readonly T[], key: (t: T) => string): T[] {
  const m = new Map<string, T>();
  for (const t of items) m.set(key(t), t);
  return m.size === items.length ? (items as T[]) : [...m.values()];
}

const EMPTY = new Uint8Array(0);
const bytes = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

async function upsertSnapshot(
  client: pg.PoolClient,
  s: string,
  consumer: string,
  seq: number,
  offsets: string,
  watermark: number | null,
  state: Uint8Array,
  format: 1 | 2,
): Promise<void> {
  await client.query(
    `INSERT INTO ${s}.snapshots (consumer, seq, offsets, watermark, state, format)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, offsets = excluded.offsets,
       watermark = excluded.watermark, state = excluded.state, format = excluded.format`,
    [consumer, seq, offsets, watermark, bytes(state), format],
  );
}

/** the snapshot reflects this cycle and every earlier one: none needs replaying any more */
async function dropCyclesUpTo(client: pg.PoolClient, s: string, consumer: string, seq: number) {
  await client.query(`DELETE FROM ${s}.cycles WHERE consumer = $1 AND seq <= $2`, [consumer, seq]);
}

/** A base replaces the chain; a delta is appended after its last piece. */
async function writeSnapshotPiece(
  client: pg.PoolClient,
  s: string,
  consumer: string,
  piece: SnapshotPieceBatch,
): Promise<void> {
  let at = 0;
  if (piece.base) {
    await client.query(`DELETE FROM ${s}.snapshot_chunks WHERE consumer = $1`, [consumer]);
  } else {
    const last = await client.query<{ p: number | null }>(
      `SELECT max(piece) AS p FROM ${s}.snapshot_chunks WHERE consumer = $1`,
      [consumer],
    );
    const p = last.rows[0]?.p;
    if (p === null || p === undefined)
      throw new TallyError(
        'TALLY_STORE_FAILURE',
        `commit of ${consumer} refused: a snapshot delta without a base`,
      );
    at = p + 1;
  }
  // one statement per chunk: a chunk may be hundreds of MiB, an array of them would be copied
  for (let i = 0; i < piece.chunks.length; i++) {
    await client.query(
      `INSERT INTO ${s}.snapshot_chunks (consumer, piece, chunk, data) VALUES ($1, $2, $3, $4)`,
      [consumer, at, i, bytes(piece.chunks[i]!)],
    );
  }
}

export async function commitBatch(
  client: pg.PoolClient,
  s: string,
  batch: CommitBatch,
): Promise<void> {
  // serializes the commits of one consumer, also its very first (no state row to lock yet)
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7244))', [
    `${s}/${batch.consumer}`,
  ]);
  const cur = await client.query<{ seq: number }>(
    `SELECT seq FROM ${s}.consumer_state WHERE consumer = $1`,
    [batch.consumer],
  );
  const previous = cur.rows[0]?.seq ?? 0;
  checkCommitFence(batch, previous);
  const seq = previous + 1;
  const watermark = encodeWatermark(batch.watermark);
  await client.query(
    `INSERT INTO ${s}.consumer_state AS c (consumer, seq, watermark, events, duplicates, late)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (consumer) DO UPDATE SET
       seq = excluded.seq,
       watermark = excluded.watermark,
       events = c.events + excluded.events,
       duplicates = c.duplicates + excluded.duplicates,
       late = c.late + excluded.late`,
    [
      batch.consumer,
      seq,
      watermark,
      batch.stats?.events ?? 0,
      batch.stats?.duplicates ?? 0,
      batch.stats?.late ?? 0,
    ],
  );

  if (batch.offsets.size > 0) {
    await client.query(
      `INSERT INTO ${s}.consumer_offsets (consumer, partition_id, next_offset)
       SELECT $1, p, o FROM unnest($2::int[], $3::bigint[]) AS u(p, o)
       ON CONFLICT (consumer, partition_id) DO UPDATE SET next_offset = excluded.next_offset`,
      [batch.consumer, [...batch.offsets.keys()], [...batch.offsets.values()]],
    );
  }
  // cycles and snapshots record ALL offsets, so each one alone says where replay stands
  const all = await client.query<{ partition_id: number; next_offset: number }>(
    `SELECT partition_id, next_offset FROM ${s}.consumer_offsets WHERE consumer = $1`,
    [batch.consumer],
  );
  const offsets = encodeOffsets(new Map(all.rows.map((r) => [r.partition_id, r.next_offset])));
  const piece = batch.snapshotPiece;
  if (piece !== undefined) {
    await writeSnapshotPiece(client, s, batch.consumer, piece);
    await upsertSnapshot(client, s, batch.consumer, seq, offsets, watermark, EMPTY, 2);
    await dropCyclesUpTo(client, s, batch.consumer, seq);
  } else if (batch.snapshot === undefined) {
    await client.query(
      `INSERT INTO ${s}.cycles (consumer, seq, offsets, watermark) VALUES ($1, $2, $3, $4)`,
      [batch.consumer, seq, offsets, watermark],
    );
  } else {
    // the snapshot reflects this cycle and every earlier one: none needs replaying any more
    await client.query(`DELETE FROM ${s}.snapshot_chunks WHERE consumer = $1`, [batch.consumer]);
    await upsertSnapshot(client, s, batch.consumer, seq, offsets, watermark, batch.snapshot, 1);
    await dropCyclesUpTo(client, s, batch.consumer, seq);
  }

  const tops = lastByKey(
    batch.top,
    (t) => `${t.windowMinutes}/${t.endMinute}/${t.dim ?? ALL_DIMS}`,
  );
  if (tops.length > 0) {
    await client.query(
      `INSERT INTO ${s}.most_clicked_ads (window_minutes, end_minute, dim, ads)
       SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[])
       ON CONFLICT (window_minutes, end_minute, dim) DO UPDATE SET ads = excluded.ads`,
      [
        tops.map((t) => t.windowMinutes),
        tops.map((t) => t.endMinute),
        tops.map((t) => t.dim ?? ALL_DIMS),
        tops.map((t) => encodeRanked(t.ads)),
      ],
    );
  }
  if (batch.late.length > 0) {
    const l = batch.late;
    await client.query(
      `INSERT INTO ${s}.late_events
         (partition_id, log_offset, ad_id, event_time, event_id, watermark, raw, arrived_at)
       SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::bigint[], $5::text[],
         $6::float8[], $7::text[], $8::bigint[])
       ON CONFLICT (partition_id, log_offset) DO NOTHING`,
      [
        l.map((r) => r.partition),
        l.map((r) => r.offset),
        l.map((r) => r.adId),
        l.map((r) => r.timestamp),
        l.map((r) => r.eventId),
        l.map((r) => encodeWatermark(r.watermark)),
        l.map((r) => r.raw),
        l.map((r) => r.arrivedAt ?? null),
      ],
    );
  }
  const rows = lastByKey(batch.rows, (r) => `${r.minute}\u0000${r.dim}\u0000${r.adId}`);
  if (rows.length > 0) {
    await client.query(
      `INSERT INTO ${s}.minute_counts (minute, dim, ad_id, count)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])
       ON CONFLICT (minute, dim, ad_id) DO UPDATE SET count = excluded.count`,
      [
        rows.map((r) => r.minute),
        rows.map((r) => r.dim),
        rows.map((r) => r.adId),
        rows.map((r) => r.count),
      ],
    );
  }
}
