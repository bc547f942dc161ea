import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TallyError } from '../../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { ACCEPTED_BODY_TYPES, unsupportedMediaType } from '../errors.js';
import { ClicksResponseSchema, errorResponses } from '../schemas.js';

/** The declared size when there is one: back-pressure is judged before the body is read. */
function declaredBytes(req: FastifyRequest): number {
  const n = Number(req.headers['content-length']);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** The charset a Content-Type names, lower-cased, or undefined when it names none. */
function charsetOf(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  return m?.[1]?.toLowerCase();
}

/** Bodies are read as UTF-8: a Content-Type naming another charset is refused, not misread. */
const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);

/**
 * The bytes a request may bring: its Content-Length (fastify refuses a body that differs),
 * or the body limit for a chunked body, whose size is known only once it has arrived.
 */
function reservedBytes(req: FastifyRequest): number {
  if (req.headers['transfer-encoding'] === undefined) return declaredBytes(req);
  return req.routeOptions.bodyLimit ?? declaredBytes(req);
}

/**
 * POST /v1/clicks. Registered in its own scope, whose only body parsers hand the raw text
 * to core/event/parse-body: parsing is per record, so one malformed line never spoils the
 * batch. The answer is sent only once the accepted records are durable.
 */
export async function clicksRoutes(scope: FastifyInstance, deps: HttpDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  app.removeAllContentTypeParsers();
  // bytes, not text: the core's scanner reads UTF-8 directly (no decode and re-encode)
  app.addContentTypeParser([...ACCEPTED_BODY_TYPES], { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );
  // anything else (form posts from curl -d, multipart, …) is 415, naming what was sent
  app.addContentTypeParser('*', (req, _payload, done) =>
    done(unsupportedMediaType(req.headers['content-type']), undefined),
  );

  app.post(
    '/v1/clicks',
    {
      schema: {
        summary: 'Ingest click events',
        description:
          'NDJSON (application/x-ndjson, or text/plain), a JSON array, or a single JSON object (application/json). ' +
          'Each record is validated on its own: invalid ones are reported by index and kept in the dead-letter store, ' +
          'the valid ones are accepted. Answers once the accepted events are durable in the log.',
        tags: ['ingest'],
        response: { 200: ClicksResponseSchema, ...errorResponses(400, 413, 415, 429, 503) },
      },
      onRequest: async (req, reply) => {
        const encoding = req.headers['content-encoding'];
        if (encoding !== undefined && encoding !== 'identity') {
          throw new TallyError(
            'TALLY_UNSUPPORTED_MEDIA_TYPE',
            `Content-Encoding "${encoding}" is not accepted; send the body uncompressed`,
            { field: 'content-encoding' },
          );
        }
        const hasBody = req.headers['transfer-encoding'] !== undefined || declaredBytes(req) > 0;
        if (hasBody && req.headers['content-type'] === undefined) {
          throw unsupportedMediaType(undefined);
        }
        const charset = charsetOf(req.headers['content-type']);
        if (charset !== undefined && !UTF8_CHARSETS.has(charset)) {
          throw new TallyError(
            'TALLY_UNSUPPORTED_MEDIA_TYPE',
            `Content-Type charset "${charset.slice(0, 40)}" is not accepted; send the body as UTF-8 (charset=utf-8, or no charset)`,
            { field: 'content-type' },
          );
        }
        // the bytes are held from before the body is read until the answer is sent (or the
        // client is gone): bodies being read count toward maxInflightBytes, so many clients
        // posting at once get 429s instead of growing the heap by a body each
        const release = deps.ingest.reserve(reservedBytes(req));
        reply.raw.once('close', release);
      },
    },
    async (req) => {
      const body = req.body instanceof Uint8Array ? req.body : new Uint8Array(0);
      // checked again now that the body is here: the disk or the aggregator may have changed
      deps.ingest.check();
      // parsing is per record (an empty body is TALLY_BAD_REQUEST); answers once durable; the
      // bytes are in flight already (reserved above)
      return deps.ingest.ingestBody(body, req.headers['content-type'], `http:${req.ip}`, 0);
    },
  );
}
