/** Rejected input is kept with its raw payload and reason: bad input is never lost. */
export interface DeadLetter {
  /** where it came from: 'http', 'file:<path>', 'stdin', 'kafka' */
  source: string;
  /**
   * the record's index in its batch or file (0-based, counting non-blank records); for a file
   * followed by `tally watch`, its line number (1-based, as editors count)
   */
  index: number;
  code: string;
  field: string | undefined;
  reason: string;
  payload: string;
  /** wall-clock ms */
  receivedAt: number;
}

export interface DeadLetterStore {
  /** durable before it resolves, like the log */
  add(letters: DeadLetter[]): Promise<void>;
  list(limit: number, offset?: number): Promise<DeadLetter[]>;
  count(): Promise<number>;
  /** as EventLog.probe: after a storage error stopped adds, repair and check; optional */
  probe?(): Promise<void>;
  close(): Promise<void>;
}
