import { partitionFor } from '../../core/event/hash.js';
import { RecordWriter } from '../../core/event/codec.js';
import { validateEvent } from '../../core/event/validate.js';
import { TallyError, type Rejection } from '../../core/errors.js';
import type { ParsedRecord } from '../../core/event/parse-body.js';
import type { Clock } from '../../ports/clock.js';
import type { DeadLetter, DeadLetterStore } from '../../ports/dead-letters.js';
import type { EventLog, PartitionAppend } from '../../ports/event-log.js';
import type { Metrics } from '../observability/metrics.js';

export interface RejectedRecord {
  index: number;
  error: string;
  code: string;
  field?: string;
}

export interface IngestResult {
  accepted: number;
  rejected: RejectedRecord[];
}

export interface IngestServiceOptions {
  log: EventLog;
  deadLetters: DeadLetterStore;
  clock: Clock;
  metrics?: Metrics | undefined;
  maxFutureSkewMs: number;
  /** bytes of batches being made durable at once before new ones are refused (429) */
  maxInflightBytes: number;
  /** records appended but not yet aggregated before new ones are refused (503) */
  maxLagRecords: number;
  lag: () => number;
  onAppended?: () => void;
}

/**
 * The write path (the book's log watcher → first queue): validate, route by ad_id, encode to
 * binary records, append durably; rejected records go to the dead-letter store with their
 * payload. Resolves only when both are durable. A batch is refused whole, before any work,
 * under back-pressure — never buffered without bound.
 */
export class IngestService {
  private inflightBytes = 0;

  constructor(private readonly o: IngestServiceOptions) {}

  /** Refuses work when ingest is ahead of what the log or the aggregator can absorb. */
  admit(bytes: number): void {
    if (this.inflightBytes > 0 && this.inflightBytes + bytes > this.o.maxInflightBytes) {
      this.o.metrics?.ingestBackpressure.inc({ reason: 'inflight' });
      throw new TallyError(
        'TALLY_BACKPRESSURE',
        `ingest has ${this.inflightBytes} bytes in flight (limit ${this.o.maxInflightBytes}); retry shortly`,
        { details: { retryAfterSeconds: 1 } },
      );
    }
    const lag = this.o.lag();
    if (lag > this.o.maxLagRecords) {
      this.o.metrics?.ingestBackpressure.inc({ reason: 'lag' });
      throw new TallyError(
        'TALLY_AGGREGATOR_BEHIND',
        `the aggregator is ${lag} records behind the log (limit ${this.o.maxLagRecords}); retry later`,
        { details: { retryAfterSeconds: 5 } },
      );
    }
  }

  /**
   * Ingests one batch of parsed records (core/event/parse-body: indices are the records'
   * positions in their body or file). Back-pressure is the caller's call to `admit` (HTTP);
   * file ingest bounds its own appends in flight instead.
   */
  async ingest(records: readonly ParsedRecord[], source: string, bytes = 0): Promise<IngestResult> {
    this.inflightBytes += bytes;
    try {
      return await this.ingestAdmitted(records, source);
    } finally {
      this.inflightBytes -= bytes;
    }
  }

  private async ingestAdmitted(records: readonly ParsedRecord[], source: string): Promise<IngestResult> {
    const now = this.o.clock.now();
    const opts = { now, maxFutureSkewMs: this.o.maxFutureSkewMs };
    const partitions = this.o.log.partitions;
    const writers: Array<RecordWriter | undefined> = new Array(partitions);
    const rejected: RejectedRecord[] = [];
    const letters: DeadLetter[] = [];
    let accepted = 0;
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      let rej: Rejection;
      if (!rec.ok) rej = rec.rejection;
      else {
        const r = validateEvent(rec.value, opts);
        if (r.ok) {
          const p = partitionFor(r.event.adId, partitions);
          (writers[p] ??= new RecordWriter(16 * 1024)).write(r.event);
          accepted++;
          continue;
        }
        rej = r.rejection;
      }
      const index = rec.index;
      rejected.push({
        index,
        error: rej.message,
        code: rej.code,
        ...(rej.field === undefined ? {} : { field: rej.field }),
      });
      letters.push({
        source,
        index,
        code: rej.code,
        field: rej.field,
        reason: rej.message,
        payload: rec.ok ? (rec.raw ?? JSON.stringify(rec.value) ?? String(rec.value)) : rec.raw,
        receivedAt: now,
      });
      this.o.metrics?.ingestRejected.inc({ source: sourceLabel(source), code: rej.code });
    }
    const appends: PartitionAppend[] = [];
    writers.forEach((w, partition) => {
      if (w && w.count > 0) appends.push({ partition, data: w.finish(), count: w.count });
    });
    const started = performance.now();
    await Promise.all([
      appends.length > 0 ? this.o.log.append(appends) : undefined,
      letters.length > 0 ? this.o.deadLetters.add(letters) : undefined,
    ]);
    if (accepted > 0) {
      this.o.metrics?.ingestBatches.observe((performance.now() - started) / 1000);
      this.o.metrics?.ingestEvents.inc({ source: sourceLabel(source) }, accepted);
      this.o.onAppended?.();
    }
    return { accepted, rejected };
  }
}

/** Bounded label values: 'file:/long/path' would make one time series per file. */
function sourceLabel(source: string): string {
  const i = source.indexOf(':');
  return i < 0 ? source : source.slice(0, i);
}
