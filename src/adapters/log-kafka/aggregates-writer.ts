/**
 * The database writer of the distributed mode: reads `<ns>.aggregates` (read_committed: only
 * committed aggregator cycles) and applies it to PostgreSQL, its own offsets in the SAME
 * PostgreSQL transaction as the rows they produced. The database's offsets are the truth: a
 * restarted writer (after kill -9 too) resumes from them, and rows are absolute counts, so
 * nothing is applied twice and nothing is skipped. A second writer is fenced by the commit seq.
 */
import { Consumer } from '@platformatic/kafka';
import type { LateRecord, MinuteRow, TopRow } from '../../ports/aggregates.js';
import type { PartitionCycle, WriterSink } from '../../ports/partitioned-aggregates.js';
import { fetchPartitions } from '../kafka/fetch-partition.js';
import { CycleLoop } from '../kafka/cycle-loop.js';
import { forceCloseQuietly, transactionalRetryDelay } from '../kafka/retry.js';
import { decodeAggregates } from './aggregates-topic.js';
import type { RoleHealth, RoleLogger } from './group-aggregator.js';

export interface AggregatesWriterOptions {
  brokers: string[];
  topic: string;
  partitions: number;
  topN: number;
  /** the aggregators' allowed lateness: candidates of ends no partition can correct go */
  allowedLatenessMs?: number;
  sink: WriterSink;
  commitIntervalMs: number;
  logger: RoleLogger;
  health?: RoleHealth;
  /** bytes read per partition and cycle */
  readBytes?: number;
}

export interface WriterPartitionPosition {
  partition: number;
  /** next aggregates offset to apply (committed in PostgreSQL) */
  offset: number;
  /** the aggregates partition's last stable offset, as last read */
  end: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AggregatesWriter {
  private offsets = new Map<number, number>();
  private ends = new Map<number, number>();
  private seq = 0;
  private loaded = false;
  private readonly loop: CycleLoop;
  private totals = { commits: 0, records: 0 };

  constructor(
    private readonly o: AggregatesWriterOptions,
    private readonly reader: Consumer = new Consumer({
      clientId: `${o.topic}-writer`,
      groupId: `${o.topic}-writer-unused`, // manual-assignment fetches only
      bootstrapBrokers: o.brokers,
      retryDelay: transactionalRetryDelay,
    }),
  ) {
    this.loop = new CycleLoop({
      cycle: () => this.cycle(),
      waitAfter: (n) => (n > 0 ? Math.min(50, this.o.commitIntervalMs) : this.o.commitIntervalMs),
      ok: () => this.o.health?.ok('writer'),
      failed: (err, failures) => {
        this.o.health?.fail('writer', err);
        if (failures === 1) this.o.logger.warn({ err }, 'writer cycle failed; retrying');
      },
    });
  }

  /** where the writer stands, from PostgreSQL (at start and after a failed commit) */
  private async load(): Promise<void> {
    const st = await this.o.sink.writerState();
    this.seq = st.seq;
    this.offsets = new Map(st.offsets);
    this.loaded = true;
  }

  get counters() {
    return { ...this.totals };
  }

  positions(): WriterPartitionPosition[] {
    return Array.from({ length: this.o.partitions }, (_, p) => ({
      partition: p,
      offset: this.offsets.get(p) ?? 0,
      end: this.ends.get(p) ?? 0,
    }));
  }

  /** Reads what is committed on every partition and applies it in one transaction. */
  async cycle(): Promise<number> {
    if (!this.loaded) await this.load();
    const rows: MinuteRow[] = [];
    const late: LateRecord[] = [];
    const cycles: PartitionCycle[] = [];
    const candidates: Array<{ partition: number; top: TopRow[] }> = [];
    const next = new Map(this.offsets);
    let records = 0;
    let moved = false;
    // every partition in one Fetch request, applied in partition order
    const wants = Array.from({ length: this.o.partitions }, (_, p) => ({
      partition: p,
      offset: BigInt(this.offsets.get(p) ?? 0),
    }));
    const fetched = await fetchPartitions(this.reader, {
      topic: this.o.topic,
      partitions: wants,
      maxBytes: this.o.readBytes ?? 1 << 20,
    });
    for (let p = 0; p < this.o.partitions; p++) {
      const from = wants[p]!.offset;
      const f = fetched[p]!;
      this.ends.set(p, Number(f.lastStableOffset));
      // past markers and aborted records too, never past the last stable offset
      const to = f.nextOffset > f.lastStableOffset ? f.lastStableOffset : f.nextOffset;
      for (const r of f.records) {
        if (r.offset >= to) break;
        const rec = decodeAggregates(r.value);
        records++;
        if (rec.kind === 'rows') rows.push(...rec.rows);
        else if (rec.kind === 'late') late.push(...rec.late);
        else if (rec.kind === 'tops') candidates.push({ partition: rec.partition, top: rec.top });
        else {
          const { kind: _kind, ...c } = rec;
          cycles.push(c);
        }
      }
      if (to > from) {
        next.set(p, Number(to));
        moved = true;
      }
    }
    if (!moved) return 0;
    try {
      await this.o.sink.commitWriter({
        rows,
        late,
        cycles,
        candidates,
        offsets: next,
        expectedSeq: this.seq,
        partitions: this.o.partitions,
        topN: this.o.topN,
        ...(this.o.allowedLatenessMs === undefined
          ? {}
          : { allowedLatenessMs: this.o.allowedLatenessMs }),
      });
    } catch (e) {
      this.loaded = false; // read the truth again before the next try
      throw e;
    }
    this.seq++;
    this.offsets = next;
    this.totals.commits++;
    this.totals.records += records;
    return records;
  }

  /** Applies everything committed on the aggregates topic so far (no transaction left open). */
  async drain(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let n = 0;
      try {
        n = await this.cycle();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        this.o.logger.warn({ err }, 'writer drain: cycle failed; retrying');
      }
      if (n > 0) continue;
      const wants = Array.from({ length: this.o.partitions }, (_, p) => ({
        partition: p,
        offset: BigInt(this.offsets.get(p) ?? 0),
      }));
      const open = (
        await fetchPartitions(this.reader, { topic: this.o.topic, partitions: wants, maxBytes: 1 })
      ).some(
        (f, p) => f.lastStableOffset < f.highWatermark || wants[p]!.offset < f.lastStableOffset,
      );
      if (!open) return;
      if (Date.now() > deadline) throw new Error(`writer drain: not done in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  start(): void {
    this.loop.start();
  }

  async close(): Promise<void> {
    await this.loop.stop();
    await forceCloseQuietly(this.reader);
  }
}
