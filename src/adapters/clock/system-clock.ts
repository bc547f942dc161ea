import type { Clock } from '../../ports/clock.js';

/** The wall clock: what every process uses; tests pass their own Clock. */
export const systemClock: Clock = { now: () => Date.now() };
