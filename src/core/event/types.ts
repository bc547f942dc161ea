/** A validated click event (SPEC §1), the unit everything downstream counts. */
export interface ClickEvent {
  /** valid by the ad_id rule (fields.ts: AD_ID_RULE) */
  adId: string;
  /** event time, epoch milliseconds (integer) */
  timestamp: number;
  /** the given idempotency key, or the canonical content hash (see canonicalEventId) */
  eventId: string;
  /** whether `eventId` came with the event (false: it is the canonical hash) */
  eventIdGiven: boolean;
  userId: string | undefined;
  ip: string | undefined;
  /** ISO 3166-1 alpha-2, upper case */
  country: string | undefined;
  /** unknown fields of the raw record, as JSON object text; undefined when there were none */
  extra: string | undefined;
}

/** Limits and clock input for validation; `now` is passed in: the core reads no clock. */
export interface ValidationOptions {
  now: number;
  /** default 5 min */
  maxFutureSkewMs: number;
}
