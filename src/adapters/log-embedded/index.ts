export { openEmbeddedLog, DEFAULT_SEGMENT_BYTES, type EmbeddedLog } from './embedded-log.js';
export type {
  Durability,
  EmbeddedLogOptions,
  LogDamage,
  LogLogger,
  PartitionStats,
  RecoveryReport,
  SealedSegment,
} from './types.js';
export { realAppendIo, type AppendIo } from './fs-durable.js';
export { embeddedRawSource } from './raw-source.js';
