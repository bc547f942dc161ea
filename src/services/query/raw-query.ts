import type { RankedAd } from '../../core/aggregate/types.js';
import { minuteCeil } from '../../core/window/minute.js';
import type { RawEvents, RawFilter, RawQuery, RawTail } from '../../ports/raw-archive.js';
import type { TailGate } from '../archive/gate.js';
import type { ParsedFilter } from './filters.js';

/** What a raw query reads: the archive, and the log's tail that is not archived yet. */
export interface RawAccess {
  events: RawEvents;
  tail(): RawTail;
  gate: TailGate;
}

export interface RawQueryOptions {
  /** the access, or a factory: a CLI query opens the log and archive only if a filter needs them */
  access: RawAccess | (() => Promise<RawAccess & { close(): Promise<void> }>);
  dedupHorizonMs: number;
}

/**
 * Filters on attributes that are not pre-aggregated (ip, user_id, …), answered exactly from
 * raw events: DuckDB over the Parquet archive (files pruned by event date and hour) plus the
 * not-yet-archived tail of the log, with the reconciled dedup rule (see RawQuery): the answer
 * a reconciled store would give, late events included. The range limit is the caller's
 * (QueryService), which knows which parameter to name.
 */
export class RawQueryService {
  private opened: Promise<RawAccess & { close?(): Promise<void> }> | undefined;

  constructor(private readonly o: RawQueryOptions) {}

  private accessOf(): Promise<RawAccess & { close?(): Promise<void> }> {
    return (this.opened ??=
      typeof this.o.access === 'function' ? this.o.access() : Promise.resolve(this.o.access));
  }

  /** closes what this service opened */
  async close(): Promise<void> {
    if (this.opened && typeof this.o.access === 'function') await (await this.opened).close?.();
  }

  private async run<T>(
    adId: string | undefined,
    from: number,
    to: number,
    filter: ParsedFilter,
    fn: (events: RawEvents, q: RawQuery, tail: RawTail) => Promise<T>,
  ): Promise<T> {
    const access = await this.accessOf();
    const q: RawQuery = {
      // minutes from ≤ m < to, as the aggregate store counts them
      fromMinute: minuteCeil(from),
      toMinute: minuteCeil(to),
      adId,
      filter: filter.terms as RawFilter,
      dedupHorizonMs: this.o.dedupHorizonMs,
      historyMs: this.o.dedupHorizonMs,
    };
    return access.gate.shared(() => fn(access.events, q, access.tail()));
  }

  count(adId: string, from: number, to: number, filter: ParsedFilter): Promise<number> {
    return this.run(adId, from, to, filter, (e, q, tail) => e.count(q, tail));
  }

  timeseries(adId: string, from: number, to: number, filter: ParsedFilter) {
    return this.run(adId, from, to, filter, (e, q, tail) => e.timeseries(q, tail));
  }

  top(from: number, to: number, n: number, filter: ParsedFilter): Promise<RankedAd[]> {
    return this.run(undefined, from, to, filter, (e, q, tail) => e.top(q, n, tail));
  }
}
