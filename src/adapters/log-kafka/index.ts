export { KafkaEventLog, type KafkaEventLogOptions } from './kafka-log.js';
export {
  DEFAULT_GROUP_TIMING,
  GroupAggregator,
  type GroupAggregatorOptions,
  type GroupPartitionStatus,
  type GroupTiming,
} from './group-aggregator.js';
export { AggregatesWriter, type WriterPartitionPosition } from './aggregates-writer.js';
export { ensureTopic, GroupOffsets } from './topics.js';
export { ClicksIntake, type ClicksIntakeOptions } from './clicks-intake.js';
