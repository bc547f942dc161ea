import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES, type ErrorCode } from '../../core/errors.js';
import { DIMENSIONS } from '../../core/aggregate/dimensions.js';
import { AD_ID_PATTERN, AD_ID_RULE, FIELDS, type FieldSpec } from '../../core/event/fields.js';
import {
  MAX_RECORD_CHARS,
  MAX_RECORD_DEPTH,
  MAX_RECORD_FIELDS,
} from '../../core/event/record-limits.js';
import { ConfigSchema } from '../../config/index.js';

// the document states the limits' defaults, as the config schema has them
const HTTP_DEFAULTS = {
  bodyLimitBytes: ConfigSchema.properties.http.properties.bodyLimitBytes.default as number,
  maxRecordsPerRequest: ConfigSchema.properties.http.properties.maxRecordsPerRequest
    .default as number,
};

/**
 * TypeBox schemas of the HTTP API (SPEC §3): they validate requests, serialize responses and
 * generate /openapi.json. Query values stay strings: the query service parses them (shared
 * with the CLI) so every message names its parameter the same way. The event's fields and
 * the filter attributes come from the field table (core/event/fields.ts).
 */

const Iso = (description: string) => Type.String({ format: 'date-time', description });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Count = (description: string) => Type.Integer({ minimum: 0, description });

// ---- errors -------------------------------------------------------------------------------

export const ErrorBodySchema = Type.Object(
  {
    error: Type.String({ description: 'what went wrong, naming the parameter or field at fault' }),
    code: Type.Unsafe<ErrorCode>({
      type: 'string',
      enum: Object.keys(ERROR_CODES),
      description: 'the TALLY_… code of the error catalogue',
    }),
    parameter: Type.Optional(Type.String({ description: 'the query or path parameter at fault' })),
    field: Type.Optional(
      Type.String({
        description: 'the parameter, body field or header at fault (mirrors parameter)',
      }),
    ),
    retry_after_seconds: Type.Optional(
      Type.Integer({ description: 'for retryable errors: same as the Retry-After header' }),
    ),
    request_id: Type.Optional(Type.String({ description: 'for 500s: find it in the server log' })),
  },
  { $id: 'TallyError', title: 'TallyError', description: 'The body of every 4xx and 5xx answer.' },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;

const ErrorRef = Type.Unsafe<ErrorBody>(Type.Ref('TallyError'));

/** Response entries for the error statuses a route can answer. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const descriptions: Record<number, string> = {
    400: 'a parameter or the body is invalid (the error names it)',
    404: 'no such route',
    413: `the body is over the limit of bytes (http.bodyLimitBytes, default ${HTTP_DEFAULTS.bodyLimitBytes}) or of records (http.maxRecordsPerRequest, default ${HTTP_DEFAULTS.maxRecordsPerRequest}); the error names the limit`,
    415: 'the Content-Type is not accepted',
    429: 'back-pressure: more request bytes being read and made durable than http.maxInflightBytes; retry after Retry-After',
    500: 'unexpected internal error (logged; no details in the body)',
    503: 'the aggregator is too far behind, or the service is starting/stopping; retry after Retry-After',
  };
  const out: Record<number, TSchema> = {};
  for (const s of [...statuses, 500]) {
    out[s] = Type.Unsafe<ErrorBody>({ ...ErrorRef, description: descriptions[s] ?? 'error' });
  }
  return out;
}

// ---- parameters ---------------------------------------------------------------------------

export const AdParamsSchema = Type.Object({
  ad_id: Type.String({
    pattern: AD_ID_PATTERN,
    description: `the ad: ${AD_ID_RULE}`,
  }),
});

/**
 * Query values are strings on the wire, and their patterns are enforced by the route schema
 * (ajv) before the query service parses them: what the document allows is exactly what gets
 * past validation. The service then applies what a pattern cannot say (a date that exists,
 * from ≤ to, a range of at most a year, a named filter that is configured): a 400 naming the
 * parameter.
 */
/** what each patterned parameter must be, as 400 messages say it when its pattern fails */
export const PARAMETER_RULES: Readonly<Record<string, string>> = {
  count: 'must be an integer from 1 to 10000',
  window: 'must be an integer from 1 to 527040 (minutes)',
  from: 'must be ISO-8601 with a zone (e.g. 2026-11-25T10:00:00Z) or epoch milliseconds',
  to: 'must be ISO-8601 with a zone (e.g. 2026-11-25T10:00:00Z) or epoch milliseconds',
  filter: 'must be 1–1024 characters without control characters',
};

const TIME_PATTERN =
  '^(?:[0-9]{1,15}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2}))$';
const time = (what: string) =>
  Type.Optional(
    Type.String({
      pattern: TIME_PATTERN,
      maxLength: 40,
      description: `${what}: ISO-8601 with a zone (2026-11-25T10:00:00Z) or epoch milliseconds, from 1970-01-01 to 9999-12-31; the date must exist`,
    }),
  );
// the grammar (named filter, or attribute=value;…) is the query service's, whose messages
// name the attribute at fault; the pattern keeps out what no filter holds
const FILTER_PATTERN = '^[^\\u0000-\\u001f\\u007f]+$';
const filter = Type.Optional(
  Type.String({
    pattern: FILTER_PATTERN,
    maxLength: 1024,
    description: `a named filter from the config (e.g. 001 = US only; an unknown name is a 400) or an expression: country=US, country=US,CA; attributes ${DIMENSIONS.join(', ')} joined by ";", each value valid for its field`,
  }),
);

export const RangeQuerySchema = Type.Object(
  {
    from: time('first minute counted (inclusive); default `to` − 1 min (timeseries: − 60 min)'),
    to: time(
      'end of the range (exclusive); default the end of the last closed minute (timeseries: now)',
    ),
    filter,
  },
  { additionalProperties: false },
);

export const PopularQuerySchema = Type.Object(
  {
    count: Type.Optional(
      Type.String({
        pattern: '^(?:[1-9][0-9]{0,3}|10000)$',
        description: 'how many ads: an integer 1–10000, default 100',
      }),
    ),
    window: Type.Optional(
      Type.String({
        pattern: '^[1-9][0-9]{0,5}$',
        description: 'window length in minutes: an integer 1–527040 (366 days), default 1',
      }),
    ),
    to: time(
      'end of the window (exclusive); default the end of the last minute the watermark closed',
    ),
    filter,
  },
  { additionalProperties: false },
);

// ---- bodies -------------------------------------------------------------------------------

/** One event field's schema, from its row of the field table. */
function fieldSchema(f: FieldSpec): TSchema {
  const description = `${f.about}; ${f.rule}`;
  switch (f.kind) {
    case 'adId':
      return Type.String({ pattern: AD_ID_PATTERN, description });
    case 'time':
      return Type.Optional(
        Type.Union([Type.String({ format: 'date-time' }), Type.Integer({ minimum: 0 })], {
          description,
        }),
      );
    case 'text':
      return Type.Optional(
        Type.String({
          ...(f.minChars ? { minLength: f.minChars } : {}),
          ...(f.maxChars === undefined ? {} : { maxLength: f.maxChars }),
          description,
        }),
      );
    case 'normalised':
      return Type.Optional(Type.String({ description }));
  }
}

const ClickEventSchema = Type.Object(
  Object.fromEntries((FIELDS as readonly FieldSpec[]).map((f) => [f.name, fieldSchema(f)])),
  {
    additionalProperties: true,
    title: 'ClickEvent',
    description: 'SPEC §1; unknown fields are kept',
  },
);

/** Request body documentation only: the body is parsed by core/event/parse-body, not by ajv. */
export const ClicksBodyDoc = {
  description:
    'NDJSON (one event per line), a JSON array of events, or (application/json) a single event object. Invalid records are rejected one by one; the valid ones of the batch are accepted. ' +
    `Limits: at most http.maxRecordsPerRequest records (default ${HTTP_DEFAULTS.maxRecordsPerRequest}) and http.bodyLimitBytes bytes (default ${HTTP_DEFAULTS.bodyLimitBytes}) per request, else 413 TALLY_PAYLOAD_TOO_LARGE; ` +
    `a record nests at most ${MAX_RECORD_DEPTH} levels, holds at most ${MAX_RECORD_FIELDS} fields and takes at most ${MAX_RECORD_CHARS} characters as JSON, else it is rejected (TALLY_RECORD_LIMIT); ` +
    'text is UTF-8: a record holding other bytes is rejected (TALLY_EVENT_INVALID_UTF8).',
  content: {
    'application/x-ndjson': {
      schema: {
        type: 'string',
        description: 'one JSON event object per line; blank lines are skipped',
      },
    },
    // the document promises what the server checks per request: an array of 1 or more
    // records, or one object. Each record is then checked on its own (ClickEvent, below) and
    // an invalid one is a `rejected` entry of the 200, not a 400 of the request
    'application/json': {
      schema: {
        oneOf: [
          Type.Array(
            Type.Unknown({ description: 'a ClickEvent; anything else is rejected alone' }),
            {
              minItems: 1,
            },
          ),
          Type.Object({}, { additionalProperties: true, description: 'one ClickEvent' }),
        ],
        description: `records are ClickEvent objects: ${JSON.stringify(ClickEventSchema)}`,
      },
    },
    'text/plain': { schema: { type: 'string', description: 'treated as NDJSON' } },
  },
};

// ---- responses ----------------------------------------------------------------------------

export const ClicksResponseSchema = Type.Object(
  {
    accepted: Count('records accepted and durable in the log'),
    rejected: Type.Array(
      Type.Object({
        index: Type.Integer({
          minimum: 0,
          description: 'position among the non-blank lines (NDJSON) or array elements, from 0',
        }),
        error: Type.String(),
        code: Type.String({ description: 'TALLY_… code' }),
        field: Type.Optional(Type.String({ description: 'the event field at fault' })),
      }),
      { description: 'invalid records, kept in the dead-letter store' },
    ),
  },
  { description: 'sent once the accepted records are durable' },
);
export type ClicksResponse = Static<typeof ClicksResponseSchema>;

export const CountResponseSchema = Type.Object(
  {
    ad_id: Type.String(),
    count: Count('clicks in the minutes from ≤ m < to'),
    from: Iso('start of the range'),
    to: Iso('end of the range (exclusive)'),
  },
  { description: 'the clicks of the ad over the range' },
);

export const TimeseriesResponseSchema = Type.Object(
  {
    ad_id: Type.String(),
    from: Iso('start of the range'),
    to: Iso('end of the range (exclusive)'),
    count: Count('total over the range'),
    points: Type.Array(
      Type.Object({ minute: Iso('minute start'), count: Count('clicks in that minute') }),
      { description: 'one point per minute, zeros included' },
    ),
  },
  { description: 'per-minute clicks of the ad' },
);

export const PopularResponseSchema = Type.Object(
  {
    window: Type.Integer({ minimum: 1, description: 'minutes' }),
    to: Iso('end of the window (exclusive)'),
    ad_ids: Type.Array(Type.String(), {
      description: 'most clicked first, ties by ad_id ascending',
    }),
    ads: Type.Array(Type.Object({ ad_id: Type.String(), count: Count('clicks in the window') })),
  },
  { description: 'the most clicked ads of the window' },
);

const PartitionStatusSchema = Type.Object({
  partition: Type.Integer({ minimum: 0 }),
  end_offset: Count('the offset the next appended record gets'),
  committed_offset: Count('next offset the aggregator reads, committed with the aggregates'),
  lag: Count('records appended but not yet committed by the aggregator'),
  watermark: Nullable(Iso('the partition watermark; null before any event')),
  max_event_time: Nullable(Iso('the latest event time seen')),
  idle: Type.Boolean({
    description: 'no event for idleTimeout: ignored by the pipeline watermark',
  }),
});

const StateStatusSchema = Type.Object(
  {
    bytes: Count('the in-memory state: dedup table, ads, panes and top lists (their arrays)'),
    budget_bytes: Count('aggregation.memoryBudgetMiB: beyond it ingest answers 503'),
    over_budget: Type.Boolean(),
    dedup_entries: Count('event ids remembered (occupied slots)'),
    dedup_bytes: Count('the dedup slot array'),
    bytes_per_dedup_entry: Type.Number({ minimum: 0 }),
    ads: Count('distinct ads interned since the start'),
    ads_bytes: Count('interned ad ids and per-ad arrays'),
    panes: Count('(node, minute) panes retained'),
    pane_entries: Count('(ad, minute) and (ad, minute, dimension) counts retained'),
    pane_bytes: Count('their count maps'),
    bytes_per_pane_entry: Type.Number({ minimum: 0 }),
    open_rows: Count('counts of minutes not yet final (they can still change)'),
    snapshot: Nullable(
      Type.Object({
        kind: Type.String({ description: 'base (the whole state) or delta (what changed)' }),
        bytes: Count('bytes of the last snapshot piece'),
        seconds: Type.Number({ minimum: 0, description: 'to write it and commit it' }),
        at: Iso('when it committed'),
        chain_base_bytes: Count('the stored base'),
        chain_delta_bytes: Count('the stored deltas after it'),
        chain_deltas: Count('how many deltas'),
      }),
    ),
    restore: Nullable(
      Type.Object({
        seconds: Type.Number({ minimum: 0 }),
        replayed_cycles: Count('cycles replayed after the snapshot'),
        replayed_records: Count('records replayed'),
      }),
    ),
  },
  { description: "the aggregator's state and its snapshots" },
);

export const StatusBodySchema = Type.Object(
  {
    now: Iso('server clock'),
    started_at: Iso('when this process opened the data dir'),
    uptime_seconds: Type.Number({ minimum: 0 }),
    watermark: Nullable(Iso('pipeline watermark: minimum over the partitions that are not idle')),
    closed_up_to: Iso(
      'end of the last minute the watermark closed: the default `to` of popular_ads',
    ),
    lag: Count('records appended but not yet aggregated, all partitions'),
    partitions: Type.Array(PartitionStatusSchema),
    // absent where this process runs no aggregator / no retention job (the distributed mode)
    state: Type.Optional(StateStatusSchema),
    retention: Type.Optional(
      Type.Object(
        {
          minutes_from: Nullable(
            Iso('minute rows are kept from here; before, hourly totals (null: none rolled yet)'),
          ),
          hours_from: Nullable(Iso('hourly rows from here; before, daily totals (null: none yet)')),
          minute_days: Type.Integer({ description: 'retention.minuteDays' }),
          hour_days: Type.Integer({ description: 'retention.hourDays' }),
        },
        { description: 'where the per-minute, hourly and daily aggregates meet' },
      ),
    ),
    // the distributed mode: where the database writer stands on the aggregates queue
    writer: Type.Optional(
      Type.Object(
        {
          lag: Count('aggregates records committed by the aggregators, not yet applied'),
          partitions: Type.Array(
            Type.Object({
              partition: Type.Integer({ minimum: 0 }),
              offset: Count('next aggregates offset to apply (committed in the database)'),
              end_offset: Count('last stable offset of the aggregates partition'),
              lag: Count('end_offset − offset'),
              cycle: Count('the last aggregator cycle of the partition applied'),
            }),
          ),
        },
        { description: "the database writer's position, from the database and the broker" },
      ),
    ),
    totals: Type.Object({
      appended: Count('records ever appended to the log (sum of end offsets)'),
      events: Count('distinct events counted or recorded late by the aggregator'),
      duplicates: Count('events dropped as duplicates'),
      late: Count('events beyond the allowed lateness, kept for reconciliation'),
      dead_letters: Count('rejected records kept in the dead-letter store'),
    }),
    config: Type.Object({
      mode: Type.String(),
      partitions: Type.Integer(),
      durability: Type.String(),
      watermark_delay_ms: Type.Integer(),
      allowed_lateness_ms: Type.Integer(),
      idle_timeout_ms: Type.Integer(),
      dedup_horizon_ms: Type.Integer(),
      dimensions: Type.Array(Type.String(), { description: 'pre-aggregated filter attributes' }),
      top_n: Type.Integer(),
      top_windows: Type.Array(Type.Integer()),
      filters: Type.Record(Type.String(), Type.String(), { description: 'named filters' }),
    }),
  },
  { description: 'the pipeline as this process sees it' },
);
export type StatusBody = Static<typeof StatusBodySchema>;

export const HealthBodySchema = Type.Object(
  {
    status: Type.Unsafe<'starting' | 'ready' | 'degraded' | 'stopping'>({
      type: 'string',
      enum: ['starting', 'ready', 'degraded', 'stopping'],
      description: 'degraded: running, but a component is failing (see problems)',
    }),
    live: Type.Boolean({ description: 'the process answers' }),
    ready: Type.Boolean({
      description: 'it serves traffic: not starting, not stopping, nothing failing',
    }),
    uptime_seconds: Type.Optional(Type.Number({ minimum: 0 })),
    problems: Type.Optional(
      Type.Array(
        Type.Object({
          component: Type.String({
            description: 'log, deadletters, aggregator, writer, intake (clicks.in), or startup',
          }),
          code: Type.String({ description: 'the TALLY_… code of the failure' }),
          reason: Type.String(),
          since: Iso('when the component entered this state'),
        }),
        { description: 'what keeps the process from being ready; empty when ready' },
      ),
    ),
  },
  { description: 'liveness and readiness (503 unless ready)' },
);
export type HealthBody = Static<typeof HealthBodySchema>;
