import type { RankedAd } from '../../core/aggregate/types.js';
import { RecordCursor } from '../../core/event/codec.js';
import type { ClickEvent } from '../../core/event/types.js';
import { dimensionField } from '../../core/event/fields.js';
import type { EventLog } from '../../ports/event-log.js';
import { minuteCeil, minuteOf } from '../../core/window/minute.js';
import type { FilterAttribute, ParsedFilter } from './filters.js';

const READ_CHUNK = 65_536;

function valueOf(e: ClickEvent, attr: FilterAttribute): string | undefined {
  // stored normalised, as the filter's values are (see filters.ts)
  return e[dimensionField(attr).key];
}

function matches(e: ClickEvent, f: ParsedFilter): boolean {
  for (const [attr, values] of f.terms) {
    const v = valueOf(e, attr);
    if (v === undefined || !values.includes(v)) return false;
  }
  return true;
}

/**
 * Answers filters on attributes that are not pre-aggregated by scanning raw events in the log
 * (the book keeps raw data for exactly this). Each distinct event (by its dedup key) counts
 * once, in its event-time minute: the reconciled answer, lateness aside. Slow by design:
 * O(log size) per query.
 */
export class RawScanner {
  private opened: Promise<EventLog> | undefined;

  /** `log` may be a factory: a CLI query opens the log only if a filter needs raw events */
  constructor(private readonly source: EventLog | (() => Promise<EventLog>)) {}

  private logOf(): Promise<EventLog> {
    return (this.opened ??=
      typeof this.source === 'function' ? this.source() : Promise.resolve(this.source));
  }

  /** closes the log if this scanner opened it */
  async close(): Promise<void> {
    if (this.opened && typeof this.source === 'function') await (await this.opened).close();
  }

  private async scan(
    adId: string | undefined,
    from: number,
    to: number,
    filter: ParsedFilter,
    visit: (e: ClickEvent) => void,
  ): Promise<void> {
    const log = await this.logOf();
    const seen = new Set<string>();
    const cursor = new RecordCursor();
    const adBytes = adId === undefined ? undefined : new TextEncoder().encode(adId);
    const firstMinute = minuteCeil(from);
    for (let p = 0; p < log.partitions; p++) {
      let offset = log.startOffset(p);
      const end = log.endOffset(p);
      while (offset < end) {
        const r = await log.read(p, offset, READ_CHUNK);
        if (r.count === 0) break;
        cursor.reset(r.data);
        while (cursor.next()) {
          const m = minuteOf(cursor.timestamp);
          if (m < firstMinute || m >= to) continue;
          if (adBytes && !sameBytes(cursor.buf, cursor.adIdStart, cursor.adIdEnd, adBytes))
            continue;
          const key = `${cursor.key0}:${cursor.key1}:${cursor.key2}:${cursor.key3}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const e = cursor.decode();
          if (matches(e, filter)) visit(e);
        }
        offset = r.nextOffset;
      }
    }
  }

  async count(adId: string, from: number, to: number, filter: ParsedFilter): Promise<number> {
    let n = 0;
    await this.scan(adId, from, to, filter, () => n++);
    return n;
  }

  async timeseries(adId: string, from: number, to: number, filter: ParsedFilter) {
    const perMinute = new Map<number, number>();
    await this.scan(adId, from, to, filter, (e) => {
      const m = minuteOf(e.timestamp);
      perMinute.set(m, (perMinute.get(m) ?? 0) + 1);
    });
    return [...perMinute]
      .map(([minute, count]) => ({ minute, count }))
      .sort((a, b) => a.minute - b.minute);
  }

  async top(from: number, to: number, n: number, filter: ParsedFilter): Promise<RankedAd[]> {
    const perAd = new Map<string, number>();
    await this.scan(undefined, from, to, filter, (e) =>
      perAd.set(e.adId, (perAd.get(e.adId) ?? 0) + 1),
    );
    return [...perAd]
      .map(([adId, count]) => ({ adId, count }))
      .sort((a, b) => b.count - a.count || (a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0))
      .slice(0, n);
  }
}

function sameBytes(buf: Uint8Array, start: number, end: number, want: Uint8Array): boolean {
  if (end - start !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (buf[start + i] !== want[i]) return false;
  return true;
}
