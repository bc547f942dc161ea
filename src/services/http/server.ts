import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { TallyError } from '../../core/errors.js';
import type { Logger } from '../observability/logger.js';
import { dashboardRoute } from '../dashboard/route.js';
import type { HttpDeps } from './deps.js';
import {
  clientErrorHandler,
  frameworkErrorHandler,
  installErrorHandlers,
  sendError,
  toHttpError,
} from './errors.js';
import { instrumentRequests } from './http-metrics.js';
import { openApiRoute, registerOpenApi } from './openapi.js';
import { adsRoutes } from './routes/ads.js';
import { clicksRoutes } from './routes/clicks.js';
import { opsRoutes } from './routes/ops.js';

export type { HttpDeps } from './deps.js';

export interface HttpServerOptions {
  bodyLimitBytes: number;
  logger: Logger;
}

/**
 * The HTTP API of SPEC §3 and the dashboard, on one fastify instance. `listen` is the
 * caller's; `close()` stops accepting, answers 503 to requests arriving on open keep-alive
 * connections, and resolves when in-flight requests (e.g. durable acks) have finished.
 */
export function buildHttpServer(deps: HttpDeps, opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    // one line per request would drown the log at ingest rates: errors are logged by the handler
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
    // a slow client may not hold a connection open forever
    requestTimeout: 60_000,
    // our own 503 in the JSON error shape (see onRequest below) instead of fastify's
    return503OnClosing: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!closing || req.url === '/healthz') return;
    reply.header('connection', 'close');
    return sendError(
      reply,
      toHttpError(new TallyError('TALLY_UNAVAILABLE', 'the server is stopping'), req),
    );
  });

  // answers sent while draining close their connection, so close() is not held up by
  // keep-alive sockets of requests that were in flight when it began
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });

  installErrorHandlers(app);
  instrumentRequests(app, deps.metrics.registry);
  registerOpenApi(app);
  void app.register(async (scope) => {
    await clicksRoutes(scope, deps);
  });
  void app.register(async (scope) => {
    await adsRoutes(scope, deps);
    await opsRoutes(scope, deps, () => closing);
    await openApiRoute(scope);
    await dashboardRoute(scope);
  });
  return app;
}
