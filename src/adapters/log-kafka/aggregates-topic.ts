/**
 * The records of `<ns>.aggregates` (the book's second queue): what one aggregator cycle
 * produced for one clicks partition, on the aggregates partition of the same number. A cycle
 * is its rows and late records (in pieces, so that no record nears the broker's message size
 * limit), its top lists per dimension value (`tops`, in pieces likewise: a closing minute
 * has one per value and window), followed by one `cycle` record that closes it: offsets
 * consumed, watermark, the partition's '*' top lists and counters. Everything of a cycle is
 * in one Kafka transaction.
 * JSON: any consumer can read it.
 */
import type { LateRecord, MinuteRow, TopRow } from '../../ports/aggregates.js';
import type { PartitionCycle } from '../../ports/partitioned-aggregates.js';

export type AggregatesRecord =
  | { kind: 'rows'; partition: number; rows: MinuteRow[] }
  | { kind: 'late'; partition: number; late: LateRecord[] }
  | { kind: 'tops'; partition: number; top: TopRow[] }
  | ({ kind: 'cycle' } & PartitionCycle);

/** rows per record: ~60 bytes each in JSON, far below the broker's 1 MiB default */
const ROWS_PER_RECORD = 5_000;
const LATE_PER_RECORD = 500;
/** lists per record: 100 ads of ~30 bytes each at the default topN */
const TOPS_PER_RECORD = 100;

type RowTuple = [minute: number, adId: string, dim: string, count: number];

export function encodeCycle(
  c: PartitionCycle,
  rows: readonly MinuteRow[],
  late: readonly LateRecord[],
): Buffer[] {
  const out: Buffer[] = [];
  const p = c.partition;
  for (let i = 0; i < rows.length; i += ROWS_PER_RECORD) {
    const tuples: RowTuple[] = rows
      .slice(i, i + ROWS_PER_RECORD)
      .map((r) => [r.minute, r.adId, r.dim, r.count]);
    out.push(Buffer.from(JSON.stringify({ kind: 'rows', partition: p, rows: tuples })));
  }
  for (let i = 0; i < late.length; i += LATE_PER_RECORD) {
    const l = late.slice(i, i + LATE_PER_RECORD).map((r) => ({
      ...r,
      watermark: Number.isFinite(r.watermark) ? r.watermark : null,
    }));
    out.push(Buffer.from(JSON.stringify({ kind: 'late', partition: p, late: l })));
  }
  const byValue = c.top.filter((t) => t.dim !== undefined);
  for (let i = 0; i < byValue.length; i += TOPS_PER_RECORD) {
    const top = byValue.slice(i, i + TOPS_PER_RECORD);
    out.push(Buffer.from(JSON.stringify({ kind: 'tops', partition: p, top })));
  }
  out.push(
    Buffer.from(
      JSON.stringify({
        kind: 'cycle',
        ...c,
        top: byValue.length === 0 ? c.top : c.top.filter((t) => t.dim === undefined),
        watermark: Number.isFinite(c.watermark) ? c.watermark : null,
      }),
    ),
  );
  return out;
}

const orMinusInfinity = (w: number | null | undefined) =>
  w === null || w === undefined ? -Infinity : w;

export function decodeAggregates(value: Buffer | null): AggregatesRecord {
  const o = JSON.parse(String(value)) as {
    kind: string;
    partition: number;
    rows?: RowTuple[];
    late?: Array<LateRecord & { watermark: number | null }>;
  } & Record<string, unknown>;
  if (o.kind === 'rows') {
    return {
      kind: 'rows',
      partition: o.partition,
      rows: (o.rows ?? []).map(([minute, adId, dim, count]) => ({ minute, adId, dim, count })),
    };
  }
  if (o.kind === 'late') {
    return {
      kind: 'late',
      partition: o.partition,
      late: (o.late ?? []).map((l) => ({ ...l, watermark: orMinusInfinity(l.watermark) })),
    };
  }
  if (o.kind === 'tops') {
    return { kind: 'tops', partition: o.partition, top: (o.top ?? []) as TopRow[] };
  }
  if (o.kind === 'cycle') {
    const c = o as unknown as PartitionCycle & { watermark: number | null };
    return { ...c, kind: 'cycle', watermark: orMinusInfinity(c.watermark) };
  }
  throw new Error(`unknown aggregates record kind ${JSON.stringify(o.kind)}`);
}
