export {
  openFileDeadLetters,
  DEAD_LETTERS_FILE,
  type FileDeadLetters,
  type FileDeadLettersOptions,
  type DeadLettersRecovery,
} from './file-dead-letters.js';
