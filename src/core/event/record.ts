/**
 * The read side of the binary record format, as the engine sees it: a cursor that walks
 * concatenated framed records without allocating. Positions index into `buf`; an absent
 * optional field has start = end = -1. Implemented by core/event/codec.ts.
 */
export interface RecordView {
  readonly buf: Uint8Array;
  /** byte range of the current framed record (for copying it, e.g. to the late store) */
  recordStart: number;
  recordEnd: number;
  /** event time, epoch ms */
  timestamp: number;
  /** ASCII bytes of ad_id */
  adIdStart: number;
  adIdEnd: number;
  /** 128-bit dedup key: hash of (ad_id, event_id), as four unsigned 32-bit words */
  key0: number;
  key1: number;
  key2: number;
  key3: number;
  /**
   * UTF-8 byte ranges of the optional string fields (event_id when given, user_id, ip,
   * country), indexed by field number (core/event/fields.ts): what a dimension is counted by
   */
  readonly fieldStart: Int32Array;
  readonly fieldEnd: Int32Array;
}
