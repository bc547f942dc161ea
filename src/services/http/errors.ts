import { Buffer } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, TallyError, isTallyError, type ErrorCode } from '../../core/errors.js';
import { AD_ID_RULE } from '../../core/event/fields.js';
import { PARAMETER_RULES, type ErrorBody } from './schemas.js';

/**
 * The one place where error codes become HTTP statuses. Typed as a total record, so a code
 * added to the catalogue does not compile until it has a status here.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  TALLY_EVENT_NOT_OBJECT: 400,
  TALLY_EVENT_MALFORMED_JSON: 400,
  TALLY_EVENT_INVALID_UTF8: 400,
  TALLY_FIELD_MISSING: 400,
  TALLY_FIELD_TYPE: 400,
  TALLY_FIELD_FORMAT: 400,
  TALLY_FIELD_LENGTH: 400,
  TALLY_EVENT_IN_FUTURE: 400,
  TALLY_RECORD_LIMIT: 400,
  TALLY_DUPLICATE_KEY: 400,
  TALLY_LINE_TOO_LONG: 400,
  TALLY_BAD_PARAMETER: 400,
  TALLY_BAD_REQUEST: 400,
  TALLY_HEADERS_TOO_LARGE: 431,
  TALLY_REQUEST_TIMEOUT: 408,
  TALLY_NOT_FOUND: 404,
  TALLY_METHOD_NOT_ALLOWED: 405,
  TALLY_PAYLOAD_TOO_LARGE: 413,
  TALLY_UNSUPPORTED_MEDIA_TYPE: 415,
  TALLY_BACKPRESSURE: 429,
  TALLY_AGGREGATOR_BEHIND: 503,
  TALLY_MEMORY_BUDGET: 503,
  TALLY_UNAVAILABLE: 503,
  TALLY_STORAGE_FULL: 507,
  TALLY_STORAGE_FAILED: 503,
  TALLY_STORE_FAILURE: 503,
  TALLY_CONFIG_INVALID: 500,
  TALLY_DATA_DIR_MISMATCH: 500,
  TALLY_LOG_CORRUPT: 500,
  TALLY_OFFSET_ARCHIVED: 500,
  TALLY_ARCHIVE_FAILURE: 503,
  TALLY_SNAPSHOT_INVALID: 500,
  TALLY_CHECKPOINT_INVALID: 500,
  TALLY_INTERNAL: 500,
};

/** Expected refusals under load: metered elsewhere, so not logged as failures. */
const LOAD_SHEDDING: ReadonlySet<ErrorCode> = new Set([
  'TALLY_BACKPRESSURE',
  'TALLY_AGGREGATOR_BEHIND',
  'TALLY_MEMORY_BUDGET',
  'TALLY_UNAVAILABLE',
  // storage states: logged once per change of state where they are detected, not per request
  'TALLY_STORAGE_FULL',
  'TALLY_STORAGE_FAILED',
]);

/** Retry-After (seconds) for retryable codes when the error does not say better. */
const DEFAULT_RETRY_AFTER: Partial<Record<ErrorCode, number>> = {
  TALLY_BACKPRESSURE: 1,
  TALLY_AGGREGATOR_BEHIND: 5,
  TALLY_MEMORY_BUDGET: 10,
  TALLY_UNAVAILABLE: 5,
  TALLY_STORE_FAILURE: 2,
  TALLY_STORAGE_FULL: 10,
  TALLY_STORAGE_FAILED: 5,
  TALLY_ARCHIVE_FAILURE: 2,
};

export interface HttpError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** a server-side failure: log it with its stack (the body never carries one) */
  internal: boolean;
}

/** The error shape every 4xx/5xx answer carries. */
export function errorBody(code: ErrorCode, message: string, field?: string): ErrorBody {
  const body: ErrorBody = { error: message, code };
  if (field !== undefined) {
    body.field = field;
    if (code === 'TALLY_BAD_PARAMETER') body.parameter = field;
  }
  return body;
}

function fromTallyError(err: TallyError): HttpError {
  const status = HTTP_STATUS[err.code];
  const body = errorBody(err.code, err.message, err.field);
  const headers: Record<string, string> = {};
  if (ERROR_CODES[err.code].retryable) {
    const hinted = err.details?.['retryAfterSeconds'];
    const seconds =
      typeof hinted === 'number' && hinted > 0
        ? Math.ceil(hinted)
        : (DEFAULT_RETRY_AFTER[err.code] ?? 1);
    headers['retry-after'] = String(seconds);
    body.retry_after_seconds = seconds;
  }
  return { status, body, headers, internal: status >= 500 && !LOAD_SHEDDING.has(err.code) };
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Which query/path parameter an ajv error is about: the property, the missing or the unknown one. */
function parameterOf(v: AjvError): string | undefined {
  const fromPath = v.instancePath?.replace(/^\//, '').split('/')[0];
  if (fromPath) return fromPath;
  const p = v.params ?? {};
  if (typeof p['missingProperty'] === 'string') return p['missingProperty'];
  if (typeof p['additionalProperty'] === 'string') return p['additionalProperty'];
  return undefined;
}

function echo(value: unknown): string {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** fastify's schema validation errors, reworded to name the parameter like the query service does. */
function fromValidation(err: FastifyError, req: FastifyRequest): TallyError {
  const v = (err.validation?.[0] ?? {}) as AjvError;
  const where = err.validationContext ?? 'request';
  const param = parameterOf(v);
  if (v.keyword === 'additionalProperties' && param !== undefined) {
    return new TallyError('TALLY_BAD_PARAMETER', `${param}: unknown ${where} parameter`, {
      field: param,
    });
  }
  if (param === undefined) {
    return new TallyError('TALLY_BAD_REQUEST', `${where}: ${v.message ?? err.message}`);
  }
  const source = (where === 'params' ? req.params : req.query) as
    Record<string, unknown> | undefined;
  const given = source?.[param];
  let message = v.message ?? 'is invalid';
  if (v.keyword === 'pattern' && typeof v.params?.['pattern'] === 'string') {
    message = PARAMETER_RULES[param] ?? `must match ${v.params['pattern']}`;
  }
  const got = given === undefined ? '' : `, got ${echo(given)}`;
  return new TallyError('TALLY_BAD_PARAMETER', `${param}: ${message}${got}`, { field: param });
}

/** fastify's own request errors (body limit, content type, bad URL…) in the catalogue's terms. */
function fromFastify(err: FastifyError, req: FastifyRequest): TallyError | undefined {
  switch (err.code) {
    case 'FST_ERR_VALIDATION':
      return fromValidation(err, req);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TallyError(
        'TALLY_PAYLOAD_TOO_LARGE',
        `the body exceeds the limit of ${req.routeOptions.bodyLimit ?? 'the configured'} bytes; send smaller batches`,
        { field: 'body' },
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return unsupportedMediaType(req.headers['content-type']);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new TallyError('TALLY_BAD_REQUEST', 'the body is empty', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new TallyError('TALLY_BAD_REQUEST', 'the body does not match its Content-Length', {
        field: 'body',
      });
    case 'FST_ERR_BAD_URL':
      return new TallyError('TALLY_BAD_REQUEST', `the URL cannot be decoded: ${echo(req.url)}`, {
        field: 'url',
      });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // ad_id is the only path parameter of the API
      return new TallyError('TALLY_BAD_PARAMETER', `ad_id: ${AD_ID_RULE}, got a much longer one`, {
        field: 'ad_id',
      });
    default:
      break;
  }
  if (err.validation) return fromValidation(err, req);
  const status = err.statusCode;
  if (status === 404) return new TallyError('TALLY_NOT_FOUND', err.message);
  if (status === 413)
    return new TallyError('TALLY_PAYLOAD_TOO_LARGE', err.message, { field: 'body' });
  if (status === 415) return unsupportedMediaType(req.headers['content-type']);
  if (status !== undefined && status >= 400 && status < 500) {
    return new TallyError('TALLY_BAD_REQUEST', err.message);
  }
  return undefined;
}

export const ACCEPTED_BODY_TYPES = [
  'application/x-ndjson',
  'application/json',
  'text/plain',
] as const;

export function unsupportedMediaType(contentType: string | undefined): TallyError {
  const given =
    contentType === undefined || contentType === '' ? 'no Content-Type' : `"${contentType}"`;
  return new TallyError(
    'TALLY_UNSUPPORTED_MEDIA_TYPE',
    `Content-Type: ${given} is not accepted; send ${ACCEPTED_BODY_TYPES.join(', ')}`,
    { field: 'content-type' },
  );
}

/** Any thrown value → status, JSON body and headers. Unknown errors become a bare 500. */
export function toHttpError(err: unknown, req: FastifyRequest): HttpError {
  if (isTallyError(err)) return fromTallyError(err);
  if (err instanceof Error) {
    const mapped = fromFastify(err as FastifyError, req);
    if (mapped) return fromTallyError(mapped);
  }
  // the message of an unexpected error may hold paths or internals: it goes to the log only
  return {
    status: 500,
    body: {
      ...errorBody(
        'TALLY_INTERNAL',
        `internal error; the server log has the details (request ${req.id})`,
      ),
      request_id: String(req.id),
    },
    headers: {},
    internal: true,
  };
}

export function sendError(reply: FastifyReply, e: HttpError): FastifyReply {
  return reply
    .code(e.status)
    .headers(e.headers)
    .type('application/json; charset=utf-8')
    .send(e.body);
}

/**
 * Installs the error and not-found handlers: every error answer is the JSON error shape. A
 * path that exists with other methods answers 405 with `Allow` (HEAD goes with GET; OPTIONS,
 * TRACE, PUT, DELETE, PATCH… are not served anywhere: there is no CORS preflight to answer).
 */
export function installErrorHandlers(app: FastifyInstance): void {
  const routes: Array<{ re: RegExp; method: string }> = [];
  app.addHook('onRoute', (r) => {
    const pattern = r.url
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) {
      routes.push({ re: new RegExp(`^${pattern}/?$`), method: m });
    }
  });
  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err, req);
    if (e.internal) req.log.error({ err, url: req.url, method: req.method }, 'request failed');
    else req.log.debug({ code: e.body.code, url: req.url }, 'request refused');
    return sendError(reply, e);
  });
  // before any body is parsed: a method with a body (QUERY, PUT…) on no route is a 404/405,
  // not a complaint about its Content-Type
  app.addHook('onRequest', async (req, reply) => {
    if (req.is404) return unrouted(req, reply);
  });
  app.setNotFoundHandler((req, reply) => unrouted(req, reply));
  function unrouted(req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const path = (req.url.split('?')[0] ?? req.url).slice(0, 200);
    const allowed = [...new Set(routes.filter((r) => r.re.test(path)).map((r) => r.method))];
    if (allowed.length > 0) {
      const allow = allowed.sort().join(', ');
      const e = fromTallyError(
        new TallyError(
          'TALLY_METHOD_NOT_ALLOWED',
          `${req.method} is not allowed on ${path}; allowed: ${allow}`,
          { field: 'method' },
        ),
      );
      e.headers['allow'] = allow;
      return sendError(reply, e);
    }
    const e = fromTallyError(
      new TallyError(
        'TALLY_NOT_FOUND',
        `no route ${req.method} ${path}; GET /openapi.json lists the API`,
      ),
    );
    return sendError(reply, e);
  }
}

/**
 * For fastify's `clientErrorHandler` option: a request Node's HTTP parser refused before any
 * route saw it (a bad Content-Length, broken chunked encoding, headers over the limit, a
 * request too slow to arrive) is answered in the JSON error shape, naming what was wrong,
 * and its connection is closed (the parser cannot find the next request on it).
 */
export function clientErrorHandler(
  err: Error & { code?: string; reason?: string },
  socket: Duplex,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let e: TallyError;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    e = new TallyError('TALLY_HEADERS_TOO_LARGE', 'the request line and headers exceed 16 KiB', {
      field: 'headers',
    });
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    e = new TallyError(
      'TALLY_REQUEST_TIMEOUT',
      'the request did not arrive whole within 60 s; send it again',
    );
  } else {
    // llhttp's reason names the fault ("Invalid character in Content-Length")
    const why = typeof err.reason === 'string' && err.reason !== '' ? err.reason : err.code;
    e = new TallyError('TALLY_BAD_REQUEST', `not a valid HTTP/1.1 request: ${why ?? 'unreadable'}`);
  }
  const { status, body } = fromTallyError(e);
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    );
  }
  socket.destroy();
}

/** For fastify's `frameworkErrors` option: URL decoding and parameter-length failures. */
export function frameworkErrorHandler(
  err: FastifyError,
  req: FastifyRequest,
  reply: FastifyReply,
): void {
  void sendError(reply, toHttpError(err, req));
}
