import type { HealthBody } from './schemas.js';

export type LifecycleState = HealthBody['status'];

/**
 * Readiness as the process sees it: `starting` until the caller says `ready()` (e.g. once the
 * aggregator runs and the port listens), `stopping` from SIGTERM on. /healthz answers 503
 * unless ready, so a load balancer drains the instance before it goes away.
 */
export class Lifecycle {
  private current: LifecycleState;

  constructor(initial: LifecycleState = 'starting') {
    this.current = initial;
  }

  get state(): LifecycleState {
    return this.current;
  }

  ready(): void {
    if (this.current !== 'stopping') this.current = 'ready';
  }

  stopping(): void {
    this.current = 'stopping';
  }
}
