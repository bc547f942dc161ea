import type { AppendIo } from './fs-durable.js';

/** The pino-compatible subset the log reports through. */
export interface LogLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: LogLogger = { info() {}, warn() {}, error() {} };

export type Durability = 'fsync' | 'none';

export interface EmbeddedLogOptions {
  dir: string;
  /** used only when the directory is created; if given for an existing one it must match */
  partitions?: number;
  /** 'fsync' (default): an append resolves once its bytes are on stable storage */
  durability?: Durability;
  /** a segment file is rolled once the next batch would take it past this size; default 64 MiB */
  segmentBytes?: number;
  logger?: LogLogger;
  /** how appended bytes are written and fsynced (tests wrap it to inject faults) */
  io?: AppendIo;
}

/** Damage found when the log was opened. */
export interface LogDamage {
  partition: number;
  /** segment file name */
  segment: string;
  /** byte position of the first damaged byte range in the segment */
  position: number;
  /**
   * 'truncated': a torn or corrupt tail of the newest segment, cut off (never acknowledged);
   * 'corrupt': damage before intact batches, kept on disk and refused on read
   */
  kind: 'truncated' | 'corrupt';
  reason: string;
  /** bytes cut off the file ('truncated' only) */
  bytesDropped: number;
  /** the records affected: [fromOffset, toOffset); for 'truncated', the offset the log resumes at */
  fromOffset: number;
  toOffset: number;
}

export interface RecoveryReport {
  damage: LogDamage[];
}

export interface PartitionStats {
  partition: number;
  startOffset: number;
  endOffset: number;
  segments: number;
  bytes: number;
}

/** A sealed segment: whole, durable, never written again. */
export interface SealedSegment {
  partition: number;
  fromOffset: number;
  toOffset: number;
  bytes: number;
  /** file name and path */
  name: string;
  path: string;
}
