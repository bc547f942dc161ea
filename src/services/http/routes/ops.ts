import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { HttpDeps } from '../deps.js';
import { HealthBodySchema, StatusBodySchema, errorResponses, type HealthBody } from '../schemas.js';

/** Operations: status, health, Prometheus metrics. `isClosing` is the server's own drain flag. */
export async function opsRoutes(
  scope: FastifyInstance,
  deps: HttpDeps,
  isClosing: () => boolean,
): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/v1/status',
    {
      schema: {
        summary: 'Pipeline status',
        description:
          'Partitions with offsets, lag and watermarks; totals of events, duplicates, late events and dead letters.',
        tags: ['operations'],
        response: { 200: StatusBodySchema, ...errorResponses() },
      },
    },
    async () => deps.status(),
  );

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness and readiness',
        description:
          '200 when ready to serve; 503 while starting or stopping (the body says which).',
        tags: ['operations'],
        response: { 200: HealthBodySchema, 503: HealthBodySchema },
      },
    },
    async (_req, reply) => {
      const h = deps.health();
      const closing = isClosing();
      const body: HealthBody = {
        ...h,
        ready: h.ready && !closing,
        status: closing ? 'stopping' : (h.status ?? (h.ready ? 'ready' : 'starting')),
      };
      return reply.code(body.ready ? 200 : 503).send(body);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description: 'Prometheus text exposition format.',
        tags: ['operations'],
        response: {
          200: {
            description: 'Prometheus text format 0.0.4',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_req, reply) => {
      const text = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(text);
    },
  );
}
