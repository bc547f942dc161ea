import type { Config } from '../config/index.js';
import type { AggregateReader } from '../ports/aggregate-reader.js';
import type { Clock } from '../ports/clock.js';
import { QueryService } from '../services/query/query-service.js';
import type { RawQueryService } from '../services/query/raw-query.js';

/** The query service over a reader, with the config's dimensions, named filters and top lists. */
export function queryService(
  config: Readonly<Config>,
  deps: {
    reader: AggregateReader;
    clock: Clock;
    /** the pipeline watermark: live from the runner, or the last committed one */
    watermark: () => number;
    raw: RawQueryService;
  },
): QueryService {
  const a = config.aggregation;
  return new QueryService({
    store: deps.reader,
    clock: deps.clock,
    dimensions: a.dimensions,
    namedFilters: config.filters,
    topN: a.topN,
    topWindows: a.topWindows,
    watermark: deps.watermark,
    raw: deps.raw,
    maxRawRangeDays: config.archive.maxRawRangeDays,
  });
}
