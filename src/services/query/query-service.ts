import { ALL_DIMS, type Dimension, type RankedAd } from '../../core/aggregate/types.js';
import { TallyError } from '../../core/errors.js';
import type { AggregateReader, DimFilter } from '../../ports/aggregate-reader.js';
import type { Clock } from '../../ports/clock.js';
import { MINUTE_MS, minuteCeil, minuteOf } from '../../core/window/minute.js';
import { dimKeysFor, parseFilter, type ParsedFilter } from './filters.js';
import { parseAdId, parseIntParam, parseRange, parseTime } from './params.js';
import type { RawQueryService } from './raw-query.js';

const MAX_RANGE_MINUTES = 366 * 24 * 60;
const MAX_SERIES_MINUTES = 7 * 24 * 60;

export interface QueryServiceOptions {
  store: AggregateReader;
  clock: Clock;
  dimensions: readonly Dimension[];
  namedFilters: Readonly<Record<string, string>>;
  topN: number;
  topWindows: readonly number[];
  /** the pipeline watermark: `popular_ads` defaults `to` to the last minute it closed */
  watermark: () => number;
  /** answers filters that are not pre-aggregated, exactly, from raw events */
  raw?: RawQueryService | undefined;
  /** the longest range a raw-attribute filter may read, days (config archive.maxRawRangeDays) */
  maxRawRangeDays?: number;
}

export interface CountQuery {
  from?: string | undefined;
  to?: string | undefined;
  filter?: string | undefined;
}

export interface PopularQuery {
  count?: string | undefined;
  window?: string | undefined;
  to?: string | undefined;
  filter?: string | undefined;
}

const iso = (t: number) => new Date(t).toISOString();

/** The query side (SPEC §3): parses parameters, picks the cheapest exact source, shapes answers. */
export class QueryService {
  constructor(private readonly o: QueryServiceOptions) {}

  private resolveFilter(raw: string | undefined): { dims?: DimFilter; raw?: ParsedFilter } {
    const parsed = parseFilter(raw, this.o.namedFilters);
    if (!parsed) return {};
    const keys = dimKeysFor(parsed, this.o.dimensions);
    return keys ? { dims: { dims: keys } } : { raw: parsed };
  }

  /**
   * The raw source, once the range is checked against archive.maxRawRangeDays: `param` is the
   * parameter that sets the range's length (from, or window for popular_ads).
   */
  private requireRaw(from: number, to: number, param: string): RawQueryService {
    const days = this.o.maxRawRangeDays ?? 31;
    if (to - from > days * 24 * 60 * MINUTE_MS) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `${param}: a filter on attributes that are not pre-aggregated reads raw events, over at most ${days} days (archive.maxRawRangeDays); this range spans ${((to - from) / 86_400_000).toFixed(1)} days`,
        { field: param, details: { maxRawRangeDays: days } },
      );
    }
    if (!this.o.raw) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `filter: only the pre-aggregated attributes (${this.o.dimensions.join(', ')}) can be filtered here, one attribute at a time; this process has no access to raw events`,
        { field: 'filter' },
      );
    }
    return this.o.raw;
  }

  async count(adIdRaw: string | undefined, q: CountQuery) {
    const adId = parseAdId(adIdRaw);
    // SPEC §3: by default the last closed minute, so that the default answer is a final count
    const { from, to } = parseRange(q.from, q.to, this.closedUpTo(), MAX_RANGE_MINUTES);
    const f = this.resolveFilter(q.filter);
    const count = f.raw
      ? await this.requireRaw(from, to, 'from').count(adId, from, to, f.raw)
      : await this.o.store.count(adId, from, to, f.dims);
    return { ad_id: adId, count, from: iso(from), to: iso(to) };
  }

  async timeseries(adIdRaw: string | undefined, q: CountQuery) {
    const adId = parseAdId(adIdRaw);
    const range = parseRange(q.from, q.to, this.o.clock.now(), MAX_SERIES_MINUTES, 60);
    const f = this.resolveFilter(q.filter);
    const points = f.raw
      ? await this.requireRaw(range.from, range.to, 'from').timeseries(
          adId,
          range.from,
          range.to,
          f.raw,
        )
      : await this.o.store.timeseries(adId, range.from, range.to, f.dims);
    const byMinute = new Map(points.map((p) => [p.minute, p.count]));
    const series: Array<{ minute: string; count: number }> = [];
    let total = 0;
    for (let m = minuteCeil(range.from); m < range.to; m += MINUTE_MS) {
      const c = byMinute.get(m) ?? 0;
      total += c;
      series.push({ minute: iso(m), count: c });
    }
    return { ad_id: adId, from: iso(range.from), to: iso(range.to), count: total, points: series };
  }

  /** The default `to`: the end of the last minute the watermark has closed. */
  closedUpTo(): number {
    const wm = this.o.watermark();
    return Number.isFinite(wm) ? minuteOf(wm) : minuteOf(this.o.clock.now());
  }

  async popular(q: PopularQuery) {
    const n = parseIntParam('count', q.count, 100, 1, 10_000);
    const window = parseIntParam('window', q.window, 1, 1, MAX_RANGE_MINUTES);
    const to = parseTime('to', q.to) ?? this.closedUpTo();
    const from = to - window * MINUTE_MS;
    const f = this.resolveFilter(q.filter);
    let ads: RankedAd[] | undefined;
    // the book's most_clicked_ads, precomputed as minutes close: of every event, or of one
    // value of a pre-aggregated dimension (several values are not a merge of their lists)
    const listDim = !q.filter ? ALL_DIMS : f.dims?.dims.length === 1 ? f.dims.dims[0] : undefined;
    if (
      listDim !== undefined &&
      to % MINUTE_MS === 0 &&
      n <= this.o.topN &&
      this.o.topWindows.includes(window)
    ) {
      const stored = await this.o.store.storedTop(window, to, listDim);
      if (stored) ads = stored.ads.slice(0, n);
    }
    if (!ads) {
      ads = f.raw
        ? await this.requireRaw(from, to, 'window').top(from, to, n, f.raw)
        : await this.o.store.top(from, to, n, f.dims);
    }
    return {
      window,
      to: iso(to),
      ad_ids: ads.map((a) => a.adId),
      ads: ads.map((a) => ({ ad_id: a.adId, count: a.count })),
    };
  }
}
