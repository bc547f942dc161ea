import { dedupKey } from '../../src/core/event/identity.js';
import { parseNdjsonLine } from '../../src/core/event/parse-body.js';
import { validateEvent } from '../../src/core/event/validate.js';
import type { ClickEvent } from '../../src/core/event/types.js';
import { MINUTE_MS as MINUTE } from '../../src/core/window/minute.js';

/** The distinct valid events of NDJSON lines, deduplicated by (ad_id, event_id) like Tally. */
export function distinctEvents(lines: readonly string[], now: number): ClickEvent[] {
  const seen = new Set<string>();
  const out: ClickEvent[] = [];
  const key = new Uint32Array(4);
  lines.forEach((line, i) => {
    const rec = parseNdjsonLine(line, i, i + 1);
    if (!rec.ok) return;
    const v = validateEvent(rec.value, { now, maxFutureSkewMs: 300_000 });
    if (!v.ok) return;
    dedupKey(v.event.adId, v.event.eventId, key);
    const k = key.join(':');
    if (seen.has(k)) return;
    seen.add(k);
    out.push(v.event);
  });
  return out;
}

/** "ad|minute" → count */
export function countByAdMinute(
  events: Iterable<{ adId: string; timestamp: number }>,
): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) {
    const k = `${e.adId}|${Math.floor(e.timestamp / MINUTE) * MINUTE}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}
