import type { IngestService } from '../ingest/ingest-service.js';
import type { Metrics } from '../observability/metrics.js';
import type { QueryService } from '../query/query-service.js';
import type { HealthBody, StatusBody } from './schemas.js';

/** What the HTTP edge needs from the rest of the process: services, not adapters. */
export interface HttpDeps {
  ingest: IngestService;
  query: QueryService;
  status(): Promise<StatusBody> | StatusBody;
  /** liveness and readiness; the server itself reports `stopping` once it is closing */
  health(): Omit<HealthBody, 'status'> & { status?: HealthBody['status'] };
  metrics: Metrics;
}
