/** Wall-clock time, injected so that services and tests decide what "now" is. */
export interface Clock {
  now(): number;
}
