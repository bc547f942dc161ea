/** The click event: its fields, validation, identity, hashing and the binary record format. */
export type { ClickEvent, ValidationOptions } from './types.js';
export {
  FIELDS,
  FIELD,
  AD_ID_PATTERN,
  AD_ID_RULE,
  isAdId,
  type Dimension,
  type FieldSpec,
} from './fields.js';
export type { RecordView } from './record.js';
export {
  RecordWriter,
  RecordCursor,
  encodeEvents,
  decodeAll,
  countRecords,
  RECORD_FORMAT_VERSION,
  RECORD_HEADER_BYTES,
} from './codec.js';
export {
  murmur3x86_128,
  murmur3x86_32,
  murmur2Kafka,
  hash128String,
  hash128Hex,
  hash32String,
  wordsToHex,
  partitionFor,
} from './hash.js';
export { canonicalEventId, dedupKey } from './identity.js';
export {
  validateEvent,
  validateFields,
  DEFAULT_MAX_FUTURE_SKEW_MS,
  type FieldValues,
  type ValidationResult,
} from './validate.js';
export {
  BatchEncoder,
  encodeNdjsonBatch,
  encodeBodyBatch,
  rebaseNdjsonBatch,
  type EncodeOptions,
  type EncodedBatch,
  type EncodedPartition,
  type EncodedRejection,
} from './encode-batch.js';
export { NdjsonChunker } from './ndjson-chunker.js';
export {
  parseBody,
  parseNdjson,
  parseJsonArray,
  parseNdjsonLine,
  type ParsedRecord,
} from './parse-body.js';
export { canonicalIp, canonicalIpBytes, isIpv4, isIpv6 } from './ip.js';
export { COUNTRY_CODES, isCountryCode } from './countries.js';
export { parseIsoTimestamp, parseIsoBytes, formatIsoTimestamp } from './time.js';
