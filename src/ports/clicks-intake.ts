import type { DeadLetter } from './dead-letters.js';

/**
 * The ingest role's intake from `<ns>.clicks.in` (SPEC §5): messages of any Kafka producer in,
 * core log records and dead letters out. The adapter reads and writes Kafka in one transaction;
 * the transform (validation, encoding) is the ingest service's.
 */

/** One message as read, with its Kafka coordinates. */
export interface IntakeMessage {
  topic: string;
  partition: number;
  offset: number;
  value: Buffer | null;
}

/** What a batch of messages becomes. */
export interface IntakeOutput {
  /** record bodies (core/event/codec, without the length prefix) on their clicks partition */
  clicks: Array<{ partition: number; value: Buffer }>;
  /** the invalid messages; `source` names their topic, partition and offset */
  letters: DeadLetter[];
}

export type IntakeTransform = (messages: readonly IntakeMessage[]) => IntakeOutput;
