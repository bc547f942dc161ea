export { openEmbeddedLog, DEFAULT_SEGMENT_BYTES, type EmbeddedLog } from './embedded-log.js';
export type {
  Durability,
  EmbeddedLogOptions,
  LogDamage,
  LogLogger,
  PartitionStats,
  RecoveryReport,
} from './types.js';
export { realAppendIo, type AppendIo } from './fs-durable.js';
