import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus metric Tally exports, on one registry per process (tests create their own).
 * Latencies are in seconds, per Prometheus convention.
 */
export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaults !== false) collectNodeMetrics(registry);
  const r = [registry];
  const latency = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const lagBuckets = [0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600];
  return {
    registry,
    ingestEvents: new Counter({
      name: 'tally_ingest_events_total',
      help: 'events accepted and durable in the log',
      labelNames: ['source'],
      registers: r,
    }),
    ingestRejected: new Counter({
      name: 'tally_ingest_rejected_total',
      help: 'records rejected at validation, by error code',
      labelNames: ['source', 'code'],
      registers: r,
    }),
    ingestBatches: new Histogram({
      name: 'tally_ingest_append_seconds',
      help: 'time to make a batch durable in the log',
      buckets: latency,
      registers: r,
    }),
    ingestBackpressure: new Counter({
      name: 'tally_ingest_backpressure_total',
      help: 'requests refused under back-pressure',
      labelNames: ['reason'],
      registers: r,
    }),
    aggregatedEvents: new Counter({
      name: 'tally_aggregated_events_total',
      help: 'distinct events counted or recorded late by the aggregator',
      registers: r,
    }),
    duplicates: new Counter({
      name: 'tally_duplicate_events_total',
      help: 'events dropped as duplicates of an event id seen within the horizon',
      registers: r,
    }),
    lateEvents: new Counter({
      name: 'tally_late_events_total',
      help: 'events beyond the allowed lateness, recorded for reconciliation',
      registers: r,
    }),
    partitionLag: new Gauge({
      name: 'tally_partition_lag_records',
      help: 'records appended to the log but not yet committed by the aggregator',
      labelNames: ['partition'],
      registers: r,
    }),
    partitionWatermark: new Gauge({
      name: 'tally_partition_watermark_timestamp_seconds',
      help: 'per-partition watermark (Unix time)',
      labelNames: ['partition'],
      registers: r,
    }),
    archivedRecords: new Counter({
      name: 'tally_archive_records_total',
      help: 'raw records written to the Parquet archive',
      registers: r,
    }),
    archiveSeconds: new Histogram({
      name: 'tally_archive_range_seconds',
      help: 'time to archive one closed log range (read, write Parquet, fsync, manifest)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: r,
    }),
    archiveBytes: new Gauge({
      name: 'tally_archive_bytes',
      help: 'bytes of Parquet files in the archive manifest',
      registers: r,
    }),
    archivePendingRecords: new Gauge({
      name: 'tally_archive_pending_records',
      help: 'records in closed log segments not yet archived',
      registers: r,
    }),
    logBytes: new Gauge({
      name: 'tally_log_bytes',
      help: 'bytes of raw log segments on disk',
      registers: r,
    }),
    logDeletedBytes: new Counter({
      name: 'tally_log_deleted_bytes_total',
      help: 'bytes of archived log segments deleted by retention',
      registers: r,
    }),
    archiveFailures: new Counter({
      name: 'tally_archive_failures_total',
      help: 'archiving or retention steps that failed (retried at the next interval)',
      registers: r,
    }),
    watermark: new Gauge({
      name: 'tally_watermark_timestamp_seconds',
      help: 'pipeline watermark (Unix time)',
      registers: r,
    }),
    commitSeconds: new Histogram({
      name: 'tally_commit_seconds',
      help: 'duration of one aggregator commit (rows + offsets + snapshot, one transaction)',
      buckets: latency,
      registers: r,
    }),
    eventTimeToCommit: new Histogram({
      name: 'tally_event_time_to_commit_seconds',
      help: 'from the end of a minute (event time) to its first committed count',
      buckets: lagBuckets,
      registers: r,
    }),
    arrivalToCommit: new Histogram({
      name: 'tally_arrival_to_commit_seconds',
      help: 'from an append to the log to the commit that covers it',
      buckets: lagBuckets,
      registers: r,
    }),
    queryLatency: new Histogram({
      name: 'tally_query_seconds',
      help: 'query latency by route',
      labelNames: ['route'],
      buckets: latency,
      registers: r,
    }),
    componentUp: new Gauge({
      name: 'tally_component_up',
      help: '1 while the component works, 0 while a storage or commit failure stops it (log, deadletters, aggregator)',
      labelNames: ['component'],
      registers: r,
    }),
    componentStateChanges: new Counter({
      name: 'tally_component_state_changes_total',
      help: 'changes of a component into a failure state (by TALLY_ code) or back to ok',
      labelNames: ['component', 'state'],
      registers: r,
    }),
    aggregatorRestores: new Counter({
      name: 'tally_aggregator_restores_total',
      help: 'times the aggregator went back to its last committed checkpoint after a failed cycle',
      registers: r,
    }),
    stateBytes: new Gauge({
      name: 'tally_state_bytes',
      help: "the aggregator's in-memory state by part (dedup, ads, panes, tops), bytes of the arrays that hold it",
      labelNames: ['part'],
      registers: r,
    }),
    stateBudgetBytes: new Gauge({
      name: 'tally_state_budget_bytes',
      help: 'aggregation.memoryBudgetMiB in bytes: beyond it ingest answers 503 TALLY_MEMORY_BUDGET',
      registers: r,
    }),
    stateDedupEntries: new Gauge({
      name: 'tally_state_dedup_entries',
      help: 'event ids the dedup table remembers (occupied slots, not yet swept dead ones included)',
      registers: r,
    }),
    stateOpenRows: new Gauge({
      name: 'tally_state_open_rows',
      help: '(ad, minute) and (ad, minute, dimension) counts that can still change (minutes not yet final)',
      registers: r,
    }),
    retentionPosition: new Gauge({
      name: 'tally_retention_position_timestamp_seconds',
      help: 'rows of this resolution (minute, hour) are kept from here on; older ones are rolled up (Unix time)',
      labelNames: ['resolution'],
      registers: r,
    }),
    retentionRolledRows: new Counter({
      name: 'tally_retention_rolled_rows_total',
      help: 'rows of this resolution (minute, hour) summed into the next coarser one and deleted',
      labelNames: ['resolution'],
      registers: r,
    }),
    snapshotWrittenBytes: new Counter({
      name: 'tally_snapshot_written_bytes_total',
      help: 'bytes of operator snapshot pieces committed, by kind (base: whole state; delta: what changed)',
      labelNames: ['kind'],
      registers: r,
    }),
    snapshotLastBytes: new Gauge({
      name: 'tally_snapshot_last_bytes',
      help: 'bytes of the last operator snapshot piece committed, by kind',
      labelNames: ['kind'],
      registers: r,
    }),
    snapshotSeconds: new Histogram({
      name: 'tally_snapshot_seconds',
      help: 'time to write one operator snapshot piece and commit it with its cycle, by kind',
      labelNames: ['kind'],
      buckets: latency,
      registers: r,
    }),
    snapshotChainBytes: new Gauge({
      name: 'tally_snapshot_chain_bytes',
      help: 'bytes of the stored snapshot chain a restore reads: its base and its deltas',
      labelNames: ['part'],
      registers: r,
    }),
    restoreSeconds: new Gauge({
      name: 'tally_aggregator_restore_seconds',
      help: 'duration of the last aggregator restore (snapshot chain load plus replay of the cycles after it)',
      registers: r,
    }),
    watchFiles: new Gauge({
      name: 'tally_watch_files',
      help: 'files `tally watch` follows (rotated-away files it is finishing included)',
      registers: r,
    }),
    watchBytesBehind: new Gauge({
      name: 'tally_watch_bytes_behind',
      help: 'bytes written to followed files but not yet durable downstream',
      registers: r,
    }),
    watchLinesBehind: new Gauge({
      name: 'tally_watch_lines_behind',
      help: 'lines not yet durable downstream, estimated: bytes behind / mean line length so far',
      registers: r,
    }),
    watchLines: new Counter({
      name: 'tally_watch_lines_sent_total',
      help: 'lines of followed files made durable downstream (events and dead letters)',
      registers: r,
    }),
    watchLastSend: new Gauge({
      name: 'tally_watch_last_send_timestamp_seconds',
      help: 'when lines were last made durable downstream (Unix time)',
      registers: r,
    }),
    watchRotations: new Counter({
      name: 'tally_watch_rotations_total',
      help: 'rotations seen: renamed (or deleted) away, truncated (copy-truncate)',
      labelNames: ['kind'],
      registers: r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * prom-client's default process and Node metrics under `tally_`, less three gauges it names
 * `…_total` (a counter's suffix), which promtool rejects: their per-type versions
 * (`tally_nodejs_active_handles{type}`, `…_requests`, `…_resources`) stay, and their sum is
 * a `sum()` away.
 */
function collectNodeMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'tally_' });
  for (const m of ['active_handles', 'active_requests', 'active_resources']) {
    registry.removeSingleMetric(`tally_nodejs_${m}_total`);
  }
}
