import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { HttpDeps } from '../deps.js';
import type { CountQuery } from '../../query/query-service.js';
import {
  AdParamsSchema,
  CountResponseSchema,
  PopularQuerySchema,
  PopularResponseSchema,
  RangeQuerySchema,
  TimeseriesResponseSchema,
  errorResponses,
} from '../schemas.js';

type QueryRoute = 'aggregated_count' | 'popular_ads' | 'timeseries';

/**
 * The query API (SPEC §3). Values are handed to the query service raw: it parses them and
 * names the parameter in every error. `popular_ads` is a static route, so the router never
 * takes it for an ad_id (static segments win over parameters).
 */
export async function adsRoutes(scope: FastifyInstance, deps: HttpDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  async function timed<T>(route: QueryRoute, run: () => Promise<T>): Promise<T> {
    const end = deps.metrics.queryLatency.startTimer({ route });
    try {
      return await run();
    } finally {
      end();
    }
  }

  app.get(
    '/v1/ads/popular_ads',
    {
      schema: {
        summary: 'Top ads over a window',
        description:
          'The top `count` ads over the minutes to − window ≤ m < to, exact, ties by ad_id ascending. ' +
          '`to` defaults to the end of the last minute the watermark has closed.',
        tags: ['query'],
        querystring: PopularQuerySchema,
        response: { 200: PopularResponseSchema, ...errorResponses(400) },
      },
    },
    (req) => timed('popular_ads', () => deps.query.popular(req.query)),
  );

  // one ad over a range of minutes: the same parameters, answered by the query service
  const adRanges = [
    {
      route: 'aggregated_count',
      summary: 'Clicks of one ad over a range of minutes',
      description:
        'Counts the minutes from ≤ m < to (a minute is identified by its start). Defaults: to = the end of the last minute the watermark has closed (as for popular_ads), from = to − 1 min, so that the default answer is a final count.',
      response: CountResponseSchema,
      // read at each request: a process may open its query service after listening
      answer: (adId: string | undefined, q: CountQuery) => deps.query.count(adId, q),
    },
    {
      route: 'timeseries',
      summary: 'Per-minute clicks of one ad, for charts',
      description:
        'One point per minute from ≤ m < to, zeros included. Defaults: to = now, from = to − 60 min; at most 7 days.',
      response: TimeseriesResponseSchema,
      answer: (adId: string | undefined, q: CountQuery) => deps.query.timeseries(adId, q),
    },
  ] as const;
  for (const r of adRanges) {
    app.get(
      `/v1/ads/:ad_id/${r.route}`,
      {
        schema: {
          summary: r.summary,
          description: r.description,
          tags: ['query'],
          params: AdParamsSchema,
          querystring: RangeQuerySchema,
          response: { 200: r.response, ...errorResponses(400) },
        },
      },
      (req) => timed(r.route, () => r.answer(req.params.ad_id, req.query)),
    );
  }
}
