import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Request counts and durations by route template (never the raw URL: one series per ad_id
 * would grow without bound). Registered on the process registry once, reused by later servers.
 */
function httpMetrics(registry: Registry) {
  const requests =
    (registry.getSingleMetric('tally_http_requests_total') as
      Counter<'route' | 'method' | 'status'> | undefined) ??
    new Counter({
      name: 'tally_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    });
  const seconds =
    (registry.getSingleMetric('tally_http_request_seconds') as
      Histogram<'route' | 'method'> | undefined) ??
    new Histogram({
      name: 'tally_http_request_seconds',
      help: 'HTTP request duration, by route template and method',
      labelNames: ['route', 'method'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  return { requests, seconds };
}

export function instrumentRequests(app: FastifyInstance, registry: Registry): void {
  const m = httpMetrics(registry);
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    m.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    m.seconds.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });
}
