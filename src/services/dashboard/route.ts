import type { FastifyInstance } from 'fastify';
import { DASHBOARD_CSP, DASHBOARD_HTML } from './page.js';

/** GET /: the dashboard page. It reads the public API from the browser, like any client. */
export async function dashboardRoute(app: FastifyInstance): Promise<void> {
  app.get(
    '/',
    {
      schema: {
        summary: 'The dashboard',
        description:
          'Top ads per window and filter, per-minute chart of an ad, pipeline status tiles.',
        tags: ['operations'],
        response: {
          200: {
            description: 'an HTML page',
            content: { 'text/html': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('content-security-policy', DASHBOARD_CSP)
        .header('x-content-type-options', 'nosniff')
        .send(DASHBOARD_HTML),
  );
}
