/**
 * A validated event as byte ranges: what RecordWriter lays out as a record (codec.ts) and
 * dedupKeyOfRanges hashes (identity.ts). The ingest fast path (fast-accept.ts) fills one
 * straight from request bytes, without building strings; RecordWriter.write fills one from a
 * ClickEvent's strings. Every text is UTF-8; an absent field has start -1.
 */
const EMPTY = new Uint8Array(0);

export class EventRanges {
  /** the bytes ad_id, event_id, user_id and extra point into */
  src: Uint8Array = EMPTY;
  timestamp = 0;
  adStart = 0;
  adEnd = 0;
  /** the country code's two upper-case ASCII bytes as `b0 << 8 | b1`, or -1 */
  country = -1;
  eventIdStart = -1;
  eventIdEnd = -1;
  userIdStart = -1;
  userIdEnd = -1;
  /** room for a canonical ip text (ip.ts IP_TEXT_MAX), for the fast path to write into */
  readonly ipBuf = new Uint8Array(64);
  /** the canonical ip text is `ipSrc[ipStart, ipEnd)`; ipStart -1 when absent */
  ipSrc: Uint8Array = this.ipBuf;
  ipStart = -1;
  ipEnd = -1;
  /** unknown fields as [keyStart, keyEnd, valueStart, valueEnd] in `src`, key with its quotes */
  unknown: Int32Array = new Int32Array(0);
  unknownCount = 0;
  /** with unknownCount > 0: bytes of the extra JSON object text made of them, braces included */
  extraBytes = 0;
  /** otherwise the extra JSON object text whole, `src[extraStart, extraEnd)`; -1 when none */
  extraStart = -1;
  extraEnd = -1;
}
