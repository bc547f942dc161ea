/**
 * Value encodings between the port's types and SQLite columns. Pure functions: the same text
 * formats suit the PostgreSQL adapter.
 */
import { minuteCeil } from '../../core/window/minute.js';
import { TallyError } from '../../core/errors.js';
import type { LateRecord, RankedAd } from '../../ports/aggregates.js';

/** -Infinity ("nothing seen yet") is stored as NULL: portable to SQL types without infinities. */
export function encodeWatermark(watermark: number): number | null {
  if (Number.isNaN(watermark)) {
    throw new TallyError('TALLY_INTERNAL', 'a watermark is NaN');
  }
  return watermark === -Infinity ? null : watermark;
}

export function decodeWatermark(value: number | null | undefined): number {
  return value === null || value === undefined ? -Infinity : value;
}

/** Offsets as a JSON object keyed by partition, partitions ascending: `{"0":120,"3":7}`. */
export function encodeOffsets(offsets: ReadonlyMap<number, number>): string {
  const entries = [...offsets].sort((a, b) => a[0] - b[0]);
  return JSON.stringify(Object.fromEntries(entries));
}

export function decodeOffsets(text: string): Map<number, number> {
  const parsed = JSON.parse(text) as Record<string, number>;
  return new Map(Object.entries(parsed).map(([p, o]) => [Number(p), o]));
}

/** A most-clicked list as compact JSON pairs: `[["ad1",42],["ad7",40]]`. */
export function encodeRanked(ads: readonly RankedAd[]): string {
  return JSON.stringify(ads.map((a) => [a.adId, a.count]));
}

export function decodeRanked(text: string): RankedAd[] {
  const pairs = JSON.parse(text) as Array<[string, number]>;
  return pairs.map(([adId, count]) => ({ adId, count }));
}

/** Minutes are identified by their start: the first whole minute at or after `t`. */
export const ceilToMinute = minuteCeil;

/** A row of late_events as both SQL stores select it. */
export interface LateEventRow {
  partition_id: number;
  log_offset: number;
  ad_id: string;
  event_time: number;
  event_id: string;
  watermark: number | null;
  raw: string;
  arrived_at: number | null;
}

export function decodeLateRow(r: LateEventRow): LateRecord {
  return {
    partition: r.partition_id,
    offset: r.log_offset,
    adId: r.ad_id,
    timestamp: r.event_time,
    eventId: r.event_id,
    watermark: decodeWatermark(r.watermark),
    raw: r.raw,
    ...(r.arrived_at === null ? {} : { arrivedAt: r.arrived_at }),
  };
}

/** A row of consumer_state as both SQL stores select it. */
export interface ConsumerStateRow {
  consumer: string;
  seq: number;
  watermark: number | null;
  events: number;
  duplicates: number;
  late: number;
}

/** A consumer's counters; zeros before its first commit. */
export const totalsOf = (s: ConsumerStateRow | undefined) => ({
  events: s?.events ?? 0,
  duplicates: s?.duplicates ?? 0,
  late: s?.late ?? 0,
});

/**
 * The commit fence of both SQL stores: a commit that expected another seq than the stored one
 * is refused (another writer committed since).
 */
export function checkCommitFence(
  batch: { consumer: string; expectedSeq?: number | undefined },
  previous: number,
): void {
  if (batch.expectedSeq !== undefined && batch.expectedSeq !== previous) {
    throw new TallyError(
      'TALLY_STORE_FAILURE',
      `commit of ${batch.consumer} refused: expected seq ${batch.expectedSeq}, store has ${previous} (another writer committed)`,
      { details: { reason: 'fenced', expectedSeq: batch.expectedSeq, storedSeq: previous } },
    );
  }
}
