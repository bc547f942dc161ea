import { Type, type Static, type TLiteral, type TUnion } from '@sinclair/typebox';
import { DIMENSIONS } from '../core/aggregate/dimensions.js';
import type { Dimension as DimensionName } from '../core/aggregate/types.js';

/** The one configuration schema: every key, its type, bounds and default. */
// the attributes that can be pre-aggregated: the field table's (core/event/fields.ts)
const Dimension = Type.Union(DIMENSIONS.map((d) => Type.Literal(d))) as TUnion<
  TLiteral<DimensionName>[]
>;
const Ms = (def: number, description: string, min = 0) =>
  Type.Integer({ minimum: min, default: def, description });

/** the roles of a distributed process (SPEC §5); `all` is every one of them */
export const DISTRIBUTED_ROLES = ['all', 'ingest', 'aggregator', 'writer', 'query'] as const;
export type DistributedRoleName = (typeof DISTRIBUTED_ROLES)[number];
const DistributedRoleSchema = Type.Union(DISTRIBUTED_ROLES.map((r) => Type.Literal(r))) as TUnion<
  TLiteral<DistributedRoleName>[]
>;

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: './data', description: 'where all state lives' }),
    /** the deployment (SPEC §5): one process on its data dir, or Kafka + PostgreSQL */
    mode: Type.Union([Type.Literal('embedded'), Type.Literal('distributed')], {
      default: 'embedded',
    }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        bodyLimitBytes: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024 }),
        /** records one POST /v1/clicks may hold; more is a 413 naming the limit */
        maxRecordsPerRequest: Type.Integer({ minimum: 1, default: 100_000 }),
        /** back-pressure: bytes of requests being read, encoded or made durable before
         * POST /v1/clicks answers 429 (one request is always let in alone) */
        maxInflightBytes: Type.Integer({ minimum: 1024, default: 256 * 1024 * 1024 }),
        /** back-pressure: records appended but not yet aggregated before ingest answers 503 */
        maxLagRecords: Type.Integer({ minimum: 1, default: 20_000_000 }),
      },
      { default: {} },
    ),
    log: Type.Object(
      {
        partitions: Type.Integer({ minimum: 1, maximum: 1024, default: 8 }),
        durability: Type.Union([Type.Literal('fsync'), Type.Literal('none')], { default: 'fsync' }),
        segmentBytes: Type.Integer({ minimum: 4096, default: 64 * 1024 * 1024 }),
      },
      { default: {} },
    ),
    store: Type.Object(
      {
        synchronous: Type.Union([Type.Literal('FULL'), Type.Literal('NORMAL')], {
          default: 'FULL',
        }),
      },
      { default: {} },
    ),
    aggregation: Type.Object(
      {
        watermarkDelayMs: Ms(15_000, 'bounded out-of-orderness'),
        allowedLatenessMs: Ms(300_000, 'closed minutes still corrected this long'),
        idleTimeoutMs: Ms(10_000, 'no events this long: the watermark follows the clock', 1),
        dedupHorizonMs: Ms(3_600_000, 'an event id is remembered this long (event time)'),
        maxFutureSkewMs: Ms(300_000, 'events further ahead of the clock are invalid'),
        dimensions: Type.Array(Dimension, { default: ['country'], uniqueItems: true }),
        topN: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
        topWindows: Type.Array(Type.Integer({ minimum: 1, maximum: 1440 }), {
          default: [1, 5, 60],
          minItems: 0,
          uniqueItems: true,
        }),
        commitIntervalMs: Ms(1_000, 'how often aggregates and offsets commit', 10),
        snapshotIntervalMs: Ms(30_000, 'how often operator state is snapshotted', 10),
        memoryBudgetMiB: Type.Integer({
          minimum: 1,
          // the book's load (1 h at 10k/s, then 10 min at 50k/s) peaks at 4.2 GB (bench soak)
          default: 6144,
          description:
            "the aggregator's state (dedup table, ads, panes) may use this much; beyond it ingest answers 503 TALLY_MEMORY_BUDGET",
        }),
        snapshotMaxRecords: Type.Integer({
          minimum: 1,
          default: 2_000_000,
          description:
            'a snapshot is also due once this many records were fed since the last one (bounds the replay after a crash)',
        }),
        snapshotCompactRatio: Type.Number({
          minimum: 0,
          default: 0.5,
          description:
            'snapshots are deltas until their sum exceeds this fraction of the base, then a new base',
        }),
        maxBatchRecords: Type.Integer({ minimum: 1, default: 65_536 }),
      },
      { default: {} },
    ),
    /** retention of the aggregates: minute rows, then hourly, then daily totals */
    retention: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'tally start rolls old minute rows up by itself',
        }),
        minuteDays: Type.Integer({
          minimum: 1,
          default: 35,
          description:
            'per-minute rows are kept this many days of event time, then rolled up to hours (a billing month, 31 days, plus 4 to invoice and dispute)',
        }),
        hourDays: Type.Integer({
          minimum: 1,
          default: 400,
          description:
            'hourly rows are kept this many days, then rolled up to days (a year and a month: year-on-year comparisons)',
        }),
        intervalMs: Ms(3_600_000, 'how often tally start rolls up', 100),
      },
      { default: {} },
    ),
    /** the cold archive of raw events (Parquet), log retention, raw-attribute queries, reconcile */
    archive: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'tally start archives closed log segments and applies retention by itself',
        }),
        intervalMs: Ms(60_000, 'how often tally start archives and applies retention', 100),
        retainLogMs: Ms(
          0,
          'archived segments stay in the log at least this long (0: deleted once safe)',
        ),
        maxLogBytes: Type.Integer({
          minimum: 0,
          default: 0,
          description:
            'log byte budget: older archived segments go first beyond it, however young (0: none)',
        }),
        maxRawRangeDays: Type.Integer({
          minimum: 1,
          maximum: 3660,
          default: 31,
          description: 'the longest range a raw-attribute filter or a reconcile may read',
        }),
        memoryLimitMiB: Type.Integer({
          minimum: 64,
          default: 512,
          description: "DuckDB's memory limit; beyond it sorts and aggregations spill to disk",
        }),
        threads: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
      },
      { default: {} },
    ),
    /** named filters (the book's filter ids): id → inline expression, e.g. "001": "country=US" */
    filters: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }), Type.String(), {
      default: { '001': 'country=US' },
    }),
    /** `tally watch`: following click log files */
    watch: Type.Object(
      {
        pollIntervalMs: Ms(
          250,
          'how often followed files are checked (fs events wake it sooner)',
          10,
        ),
        maxLineBytes: Type.Integer({
          minimum: 1024,
          default: 1024 * 1024,
          description: 'the read size per send, and the longest line (LF included) read',
        }),
        maxInflightBytes: Type.Integer({
          minimum: 1024,
          default: 8 * 1024 * 1024,
          description: 'bytes sent but not yet durable downstream before reading waits',
        }),
        rotatedIdleMs: Ms(
          5_000,
          'a file rotated away is finished, its unterminated last line sent, after this long idle',
        ),
        statusIntervalMs: Ms(60_000, 'a status log line this often (0: never)'),
      },
      { default: {} },
    ),
    /** the distributed mode's services and roles (SPEC §5) */
    distributed: Type.Object(
      {
        brokers: Type.Array(Type.String({ pattern: '^[^\\s,]+:[0-9]{1,5}$' }), {
          minItems: 1,
          default: ['127.0.0.1:9092'],
          description: 'Kafka bootstrap brokers, host:port',
        }),
        databaseUrl: Type.String({
          pattern: '^postgres(ql)?://',
          default: 'postgres://tally@127.0.0.1:5433/tally',
          description: 'PostgreSQL connection URL',
        }),
        namespace: Type.String({
          pattern: '^[a-z_][a-z0-9_]{0,62}$',
          default: 'tally',
          description:
            'prefixes every topic, consumer group and transactional id; names the PostgreSQL schema',
        }),
        roles: Type.Array(DistributedRoleSchema, {
          minItems: 1,
          uniqueItems: true,
          default: ['all'],
          description: 'what this process runs',
        }),
        sessionTimeoutMs: Type.Integer({
          minimum: 6_000,
          maximum: 300_000,
          default: 10_000,
          description:
            "the aggregator group's session timeout: a killed aggregator's partitions move after this (the broker's minimum is 6 000 by default)",
        }),
      },
      { default: {} },
    ),
    demo: Type.Object(
      {
        eventsPerSecond: Type.Integer({ minimum: 1, default: 2_000 }),
        ads: Type.Integer({ minimum: 1, default: 5_000 }),
        seed: Type.Integer({ default: 42 }),
      },
      { default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
