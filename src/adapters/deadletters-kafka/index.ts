export { KafkaDeadLetters, type KafkaDeadLettersOptions } from './kafka-dead-letters.js';
