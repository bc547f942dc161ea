export { KafkaEventLog, type KafkaEventLogOptions } from './kafka-log.js';
