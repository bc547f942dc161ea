/** The slice of a pino logger the store uses (a pino Logger satisfies it). */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}
