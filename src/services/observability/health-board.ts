import { TallyError, isTallyError, type ErrorCode } from '../../core/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** The parts of the process whose failures take it out of readiness. */
export type Component = 'log' | 'deadletters' | 'aggregator' | 'writer' | 'intake';

export interface Problem {
  component: Component;
  code: ErrorCode;
  reason: string;
  /** wall-clock ms of the change into this state */
  since: number;
  /** the error itself, for callers that refuse work while it lasts */
  error: TallyError;
}

/**
 * What is failing now, one entry per component, and the one place that reports it: a log line
 * and a metric per CHANGE of state (failing with a new code, or recovered), never one per
 * refused request or per retry. Readiness (/healthz) is "no problem here".
 */
export class HealthBoard {
  private readonly problems = new Map<Component, Problem>();

  constructor(
    private readonly o: { logger: Logger; clock: Clock; metrics?: Metrics | undefined },
  ) {}

  fail(component: Component, err: unknown): void {
    const error = isTallyError(err)
      ? err
      : new TallyError('TALLY_INTERNAL', err instanceof Error ? err.message : String(err), {
          cause: err,
        });
    const prev = this.problems.get(component);
    if (prev !== undefined && prev.code === error.code) {
      prev.error = error;
      prev.reason = error.message;
      return;
    }
    this.problems.set(component, {
      component,
      code: error.code,
      reason: error.message,
      since: this.o.clock.now(),
      error,
    });
    this.o.logger.warn(
      { component, code: error.code, err: error, details: error.details },
      `${component}: ${error.message}`,
    );
    this.o.metrics?.componentUp.set({ component }, 0);
    this.o.metrics?.componentStateChanges.inc({ component, state: error.code });
  }

  ok(component: Component): void {
    const prev = this.problems.get(component);
    if (prev === undefined) return;
    this.problems.delete(component);
    const seconds = Math.max(0, (this.o.clock.now() - prev.since) / 1000);
    this.o.logger.info(
      { component, after: prev.code, seconds },
      `${component}: recovered after ${seconds.toFixed(1)} s (${prev.code})`,
    );
    this.o.metrics?.componentUp.set({ component }, 1);
    this.o.metrics?.componentStateChanges.inc({ component, state: 'ok' });
  }

  problem(component: Component): Problem | undefined {
    return this.problems.get(component);
  }

  list(): Problem[] {
    return [...this.problems.values()];
  }
}
