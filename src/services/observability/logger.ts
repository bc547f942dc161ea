import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured logs go to stderr: stdout is reserved for the CLI's machine-readable JSON. */
export function createLogger(level: string, name = 'tally'): Logger {
  return pino({ name, level }, pino.destination({ dest: 2, sync: false }));
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
