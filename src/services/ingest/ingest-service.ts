import {
  BatchEncoder,
  type EncodeOptions,
  type EncodedBatch,
} from '../../core/event/encode-batch.js';
import { TallyError, isStorageError } from '../../core/errors.js';
import { jsonBodyProblem } from '../../core/event/body-framing.js';
import type { ParsedRecord } from '../../core/event/parse-body.js';
import type { Clock } from '../../ports/clock.js';
import type { DeadLetter, DeadLetterStore } from '../../ports/dead-letters.js';
import type { EventLog, PartitionAppend } from '../../ports/event-log.js';
import type { Component, HealthBoard } from '../observability/health-board.js';
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
  /** records one body (ingestBody) may hold before it is refused whole (413); default no cap */
  maxRecordsPerRequest?: number | undefined;
  lag: () => number;
  /** why new records are refused for memory (the aggregator's state over its budget), if so */
  overMemoryBudget?: () => string | undefined;
  onAppended?: () => void;
  /** where storage failures of the log and the dead letters are reported (readiness) */
  health?: HealthBoard | undefined;
  /** while a store is failing, how often it is probed for recovery, ms (default 1000) */
  probeIntervalMs?: number;
}

/** A store this service writes, with what repairs it after a storage error (when it can). */
interface Written {
  component: Component;
  probe: (() => Promise<void>) | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The write path (the book's log watcher → first queue): validate, route by ad_id, encode to
 * binary records, append durably; rejected records go to the dead-letter store with their
 * payload. Resolves only when both are durable. A batch is refused whole, before any work,
 * under back-pressure — never buffered without bound.
 *
 * The per-record work is core/event/encode-batch's (a byte scanner with a JSON.parse
 * fallback); this service only appends what it produced, so the encoding can also run in
 * worker threads (encode-pool.ts) and be handed in with `ingestEncoded`.
 */
export class IngestService {
  private inflightBytes = 0;
  private readonly encoder = new BatchEncoder();
  private readonly written: { log: Written; deadletters: Written };
  private stopped = false;

  constructor(private readonly o: IngestServiceOptions) {
    const { log, deadLetters } = o;
    this.written = {
      log: { component: 'log', probe: log.probe?.bind(log), timer: undefined },
      deadletters: {
        component: 'deadletters',
        probe: deadLetters.probe?.bind(deadLetters),
        timer: undefined,
      },
    };
  }

  /** bytes of batches being made durable now (bounded by maxInflightBytes) */
  get inflight(): number {
    return this.inflightBytes;
  }

  /**
   * Refuses work when ingest is ahead of what the log or the aggregator can absorb, and while
   * the disk refuses writes: then the storage error (507/503) is the answer, before the body
   * is read, until the probe finds the store repaired and writable again.
   */
  admit(bytes: number): void {
    this.checkStores();
    if (this.inflightBytes > 0 && this.inflightBytes + bytes > this.o.maxInflightBytes) {
      this.o.metrics?.ingestBackpressure.inc({ reason: 'inflight' });
      throw new TallyError(
        'TALLY_BACKPRESSURE',
        `ingest has ${this.inflightBytes} bytes in flight (limit ${this.o.maxInflightBytes}); retry shortly`,
        { details: { retryAfterSeconds: 1 } },
      );
    }
    this.checkLag();
  }

  /**
   * `admit`, then holds `bytes` in flight until the returned release is called (once; more
   * calls do nothing). The HTTP edge reserves a request's bytes before its body is read and
   * releases them once the answer is sent: so the bodies being read, encoded and made durable
   * at once never exceed maxInflightBytes, plus one body admitted alone.
   */
  reserve(bytes: number): () => void {
    this.admit(bytes);
    this.inflightBytes += bytes;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.inflightBytes -= bytes;
    };
  }

  /** `admit` without bytes: the stores writable, the aggregator not too far behind. */
  check(): void {
    this.checkStores();
    this.checkLag();
  }

  private checkStores(): void {
    for (const w of [this.written.log, this.written.deadletters]) {
      const problem = w.probe === undefined ? undefined : this.o.health?.problem(w.component);
      if (problem !== undefined) {
        this.o.metrics?.ingestBackpressure.inc({ reason: problem.code });
        throw problem.error;
      }
    }
  }

  private checkLag(): void {
    const lag = this.o.lag();
    if (lag > this.o.maxLagRecords) {
      this.o.metrics?.ingestBackpressure.inc({ reason: 'lag' });
      throw new TallyError(
        'TALLY_AGGREGATOR_BEHIND',
        `the aggregator is ${lag} records behind the log (limit ${this.o.maxLagRecords}); retry later`,
        { details: { retryAfterSeconds: 5 } },
      );
    }
    const memory = this.o.overMemoryBudget?.();
    if (memory !== undefined) {
      this.o.metrics?.ingestBackpressure.inc({ reason: 'memory' });
      throw new TallyError('TALLY_MEMORY_BUDGET', memory, {
        details: { retryAfterSeconds: 10 },
      });
    }
  }

  /** What to encode a batch with now: the clock, the skew limit, the log's partitions. */
  encodeOptions(): EncodeOptions {
    return {
      now: this.o.clock.now(),
      maxFutureSkewMs: this.o.maxFutureSkewMs,
      partitions: this.o.log.partitions,
    };
  }

  /**
   * Ingests one batch of parsed records (core/event/parse-body: indices are the records'
   * positions in their body or file). Back-pressure is the caller's call to `admit` (HTTP);
   * file ingest bounds its own appends in flight instead.
   */
  async ingest(records: readonly ParsedRecord[], source: string, bytes = 0): Promise<IngestResult> {
    return this.ingestEncoded(
      this.encoder.encodeParsed(records, this.encodeOptions()),
      source,
      bytes,
    );
  }

  /**
   * Ingests a request body as it arrived: NDJSON, a JSON array, or one JSON object
   * (application/json), as text or UTF-8 bytes (core/event/encode-batch's encodeBody: the
   * same records, indices and answers as parseBody + `ingest`, without JSON.parse for the
   * common record). Throws TALLY_BAD_REQUEST when the body holds no record at all, before
   * anything is appended. `bytes` counts toward the in-flight limit (default: the body's size).
   */
  async ingestBody(
    body: string | Uint8Array,
    contentType: string | undefined,
    source: string,
    bytes = typeof body === 'string' ? body.length : body.byteLength,
  ): Promise<IngestResult> {
    const problem = jsonBodyProblem(
      typeof body === 'string' ? textEncoder.encode(body.slice(0, 64).trimStart()) : body,
      contentType,
    );
    if (problem !== undefined)
      throw new TallyError('TALLY_BAD_REQUEST', problem, { field: 'body' });
    const max = this.o.maxRecordsPerRequest;
    const batch = this.encoder.encodeBody(body, contentType, {
      ...this.encodeOptions(),
      ...(max === undefined ? {} : { maxRecords: max }),
    });
    if (batch.overLimit) {
      throw new TallyError(
        'TALLY_PAYLOAD_TOO_LARGE',
        `the body holds more than ${max} records (http.maxRecordsPerRequest); send at most ${max} per request`,
        { field: 'body', details: { maxRecords: max } },
      );
    }
    if (batch.records === 0) {
      throw new TallyError(
        'TALLY_BAD_REQUEST',
        'the body holds no records: send NDJSON (one event per line) or a JSON array of events',
        { field: 'body' },
      );
    }
    return this.ingestEncoded(batch, source, bytes);
  }

  /**
   * Appends a batch encoded by core/event/encode-batch (here, or in a worker of
   * encode-pool.ts) and keeps its rejected records as dead letters; resolves once both are
   * durable. Batches reach the log in the order of the calls: the offsets are given when this
   * is called, not when it resolves.
   */
  async ingestEncoded(batch: EncodedBatch, source: string, bytes = 0): Promise<IngestResult> {
    this.inflightBytes += bytes;
    try {
      return await this.append(batch, source);
    } finally {
      this.inflightBytes -= bytes;
    }
  }

  /** Stops the recovery probes (the stores are about to close). */
  stop(): void {
    this.stopped = true;
    for (const w of [this.written.log, this.written.deadletters]) {
      clearTimeout(w.timer);
      w.timer = undefined;
    }
  }

  /** A write failed: a storage error is reported, and probed until the store recovers. */
  private failed(w: Written, err: unknown): void {
    if (!isStorageError(err)) return;
    this.o.health?.fail(w.component, err);
    if (w.probe !== undefined && w.timer === undefined && !this.stopped) this.schedule(w);
  }

  private recovered(w: Written): void {
    this.o.health?.ok(w.component);
  }

  private schedule(w: Written): void {
    w.timer = setTimeout(() => {
      void (w.probe as () => Promise<void>)().then(
        () => {
          w.timer = undefined;
          this.recovered(w);
        },
        (err: unknown) => {
          w.timer = undefined;
          if (this.stopped || !isStorageError(err)) return;
          this.o.health?.fail(w.component, err);
          this.schedule(w);
        },
      );
    }, this.o.probeIntervalMs ?? 1000);
    w.timer.unref();
  }

  private async append(batch: EncodedBatch, source: string): Promise<IngestResult> {
    const label = sourceLabel(source);
    const rejected: RejectedRecord[] = [];
    const letters: DeadLetter[] = [];
    for (const r of batch.rejected) {
      rejected.push({
        index: r.index,
        error: r.message,
        code: r.code,
        ...(r.field === undefined ? {} : { field: r.field }),
      });
      letters.push({
        source,
        index: r.index,
        code: r.code,
        field: r.field,
        reason: r.message,
        payload: r.payload,
        receivedAt: batch.now,
      });
      this.o.metrics?.ingestRejected.inc({ source: label, code: r.code });
    }
    const appends: PartitionAppend[] = [];
    batch.perPartition.forEach((p, partition) => {
      if (p.count > 0) appends.push({ partition, data: p.data, count: p.count });
    });
    const started = performance.now();
    const [logged, kept] = await Promise.allSettled([
      appends.length > 0 ? this.o.log.append(appends) : undefined,
      letters.length > 0 ? this.o.deadLetters.add(letters) : undefined,
    ]);
    if (logged.status === 'rejected') this.failed(this.written.log, logged.reason);
    else if (appends.length > 0) this.recovered(this.written.log);
    if (kept.status === 'rejected') this.failed(this.written.deadletters, kept.reason);
    else if (letters.length > 0) this.recovered(this.written.deadletters);
    if (logged.status === 'rejected') throw logged.reason;
    if (kept.status === 'rejected') throw kept.reason;
    if (batch.accepted > 0) {
      this.o.metrics?.ingestBatches.observe((performance.now() - started) / 1000);
      this.o.metrics?.ingestEvents.inc({ source: label }, batch.accepted);
      this.o.onAppended?.();
    }
    return { accepted: batch.accepted, rejected };
  }
}

const textEncoder = new TextEncoder();

/** Bounded label values: 'file:/long/path' would make one time series per file. */
function sourceLabel(source: string): string {
  const i = source.indexOf(':');
  return i < 0 ? source : source.slice(0, i);
}
