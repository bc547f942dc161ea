/**
 * The one error catalogue. Every failure Tally reports carries a `TALLY_…` code from this
 * closed union; the HTTP edge maps codes to statuses in exactly one place (services/http/errors).
 */
export const ERROR_CODES = {
  // a click event that fails validation (SPEC §1); `field` names the offending field
  TALLY_EVENT_NOT_OBJECT: { retryable: false, summary: 'the record is not a JSON object' },
  TALLY_EVENT_MALFORMED_JSON: { retryable: false, summary: 'the record is not valid JSON' },
  TALLY_EVENT_INVALID_UTF8: {
    retryable: false,
    summary: 'the record holds bytes that are not UTF-8 (the message names the byte and field)',
  },
  TALLY_FIELD_MISSING: { retryable: false, summary: 'a required field is absent' },
  TALLY_FIELD_TYPE: { retryable: false, summary: 'a field has the wrong JSON type' },
  TALLY_FIELD_FORMAT: { retryable: false, summary: 'a field does not match its format' },
  TALLY_FIELD_LENGTH: { retryable: false, summary: 'a field is empty or too long' },
  TALLY_LINE_TOO_LONG: {
    retryable: false,
    summary: 'a line of a watched file is longer than watch.maxLineBytes',
  },
  TALLY_EVENT_IN_FUTURE: {
    retryable: false,
    summary: 'the event time is further ahead of the server clock than maxFutureSkew',
  },
  TALLY_RECORD_LIMIT: {
    retryable: false,
    summary: 'a record exceeds a shape limit: its size, nesting depth or number of fields',
  },
  TALLY_DUPLICATE_KEY: {
    retryable: false,
    summary: 'a JSON object of the record names the same key twice',
  },
  // requests
  TALLY_BAD_PARAMETER: { retryable: false, summary: 'a query parameter or argument is invalid' },
  TALLY_BAD_REQUEST: { retryable: false, summary: 'the request body cannot be read' },
  TALLY_UNSUPPORTED_MEDIA_TYPE: { retryable: false, summary: 'the content type is not accepted' },
  TALLY_PAYLOAD_TOO_LARGE: {
    retryable: false,
    summary: 'the body exceeds the configured limit of bytes or of records',
  },
  TALLY_HEADERS_TOO_LARGE: {
    retryable: false,
    summary: 'the request line and headers exceed the 16 KiB the server reads',
  },
  TALLY_REQUEST_TIMEOUT: {
    retryable: false,
    summary: 'the request did not arrive whole within the time allowed (60 s)',
  },
  TALLY_NOT_FOUND: { retryable: false, summary: 'no such resource' },
  TALLY_METHOD_NOT_ALLOWED: {
    retryable: false,
    summary: 'the path exists but not with this method (the Allow header lists the methods)',
  },
  TALLY_BACKPRESSURE: {
    retryable: true,
    summary: 'ingest is ahead of durable capacity; retry later',
  },
  TALLY_AGGREGATOR_BEHIND: {
    retryable: true,
    summary: 'the aggregator is too far behind the log; retry later',
  },
  TALLY_UNAVAILABLE: { retryable: true, summary: 'the service is starting or stopping' },
  TALLY_MEMORY_BUDGET: {
    retryable: true,
    summary:
      "the aggregator's state exceeds aggregation.memoryBudgetMiB: ingest is refused until the watermark expires enough of it",
  },
  TALLY_STORAGE_FULL: {
    retryable: true,
    summary:
      'the disk refuses writes for lack of space or quota (ENOSPC, EDQUOT, SQLITE_FULL); nothing of the request was acknowledged',
  },
  TALLY_STORAGE_FAILED: {
    retryable: true,
    summary:
      'a write to the data dir failed (an I/O error); nothing of the request was acknowledged',
  },
  // configuration and state
  TALLY_CONFIG_INVALID: { retryable: false, summary: 'the configuration is invalid' },
  TALLY_DATA_DIR_MISMATCH: {
    retryable: false,
    summary: 'the data directory was created with incompatible settings',
  },
  TALLY_LOG_CORRUPT: { retryable: false, summary: 'the log holds a corrupt batch' },
  TALLY_OFFSET_ARCHIVED: {
    retryable: false,
    summary: 'the offset was archived and removed from the log by retention; read the archive',
  },
  TALLY_ARCHIVE_FAILURE: {
    retryable: true,
    summary: 'the Parquet archive (DuckDB, its files or its manifest) failed',
  },

  TALLY_CHECKPOINT_INVALID: {
    retryable: false,
    summary: "the log watcher's checkpoint file cannot be read",
  },
  TALLY_STORE_FAILURE: { retryable: true, summary: 'the aggregate store failed' },
  TALLY_SNAPSHOT_INVALID: { retryable: false, summary: 'an operator snapshot cannot be read' },
  TALLY_INTERNAL: { retryable: false, summary: 'an unexpected internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface TallyErrorOptions {
  /** the event field, query parameter or config key at fault */
  field?: string;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class TallyError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: TallyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TallyError';
    this.code = code;
    this.field = opts.field;
    this.retryable = ERROR_CODES[code].retryable;
    this.details = opts.details;
  }

  toJSON(): { code: ErrorCode; error: string; field?: string; details?: Record<string, unknown> } {
    return {
      code: this.code,
      error: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isTallyError(e: unknown): e is TallyError {
  return e instanceof TallyError;
}

/**
 * Whether `e` is a storage state (the disk is full, or a write failed) rather than a bug: the
 * writer that raised it repairs itself once the disk takes writes again, and callers answer
 * 507/503 with Retry-After meanwhile.
 */
export function isStorageError(e: unknown): e is TallyError {
  return isTallyError(e) && (e.code === 'TALLY_STORAGE_FULL' || e.code === 'TALLY_STORAGE_FAILED');
}

/** A rejected record: the core returns these, it never throws for bad input. */
export interface Rejection {
  code: ErrorCode;
  field: string | undefined;
  message: string;
}

export function rejection(code: ErrorCode, field: string | undefined, message: string): Rejection {
  return { code, field, message };
}
