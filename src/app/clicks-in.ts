/**
 * The transform of the ingest role's `<ns>.clicks.in` cycle: each message is one JSON click,
 * validated, routed and encoded by the core exactly as POST /v1/clicks does; a rejected one
 * becomes a dead letter with its Kafka coordinates (source `kafka:<topic>/<partition>`, index
 * = its offset) and its payload as it came.
 */
import type { InputMessage, TransformResult } from '../adapters/kafka/clicks-in.js';
import { BatchEncoder } from '../core/event/encode-batch.js';
import type { Clock } from '../ports/clock.js';

/** A line that is never valid JSON: stands for a message that cannot be one line of NDJSON. */
const MALFORMED = '{';

/**
 * One message as one NDJSON line. Raw line breaks can only be whitespace between the tokens
 * of valid JSON (a string cannot hold them), so a message that parses has them replaced by
 * spaces; one that does not, or an empty one, becomes a line that fails to parse too.
 */
function asLine(value: Buffer | null): string {
  const text = value === null ? '' : value.toString('utf8');
  if (text.trim() === '') return MALFORMED;
  if (!/[\r\n]/.test(text)) return text;
  try {
    JSON.parse(text);
  } catch {
    return MALFORMED;
  }
  return text.replace(/[\r\n]/g, ' ');
}

function splitFramed(data: Uint8Array): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Uint8Array[] = [];
  for (let pos = 0; pos < data.byteLength;) {
    const len = view.getUint32(pos, true);
    out.push(data.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

export function clicksInTransform(o: {
  inTopic: string;
  partitions: number;
  maxFutureSkewMs: number;
  clock: Clock;
}): (messages: readonly InputMessage[]) => TransformResult {
  const encoder = new BatchEncoder();
  return (messages) => {
    if (messages.length === 0) return { clicks: [], letters: [] };
    const now = o.clock.now();
    const body = messages.map((m) => asLine(m.value)).join('\n');
    const batch = encoder.encodeBody(body, 'application/x-ndjson', {
      partitions: o.partitions,
      now,
      maxFutureSkewMs: o.maxFutureSkewMs,
    });
    const clicks: TransformResult['clicks'] = [];
    batch.perPartition.forEach((p, partition) => {
      if (p.count > 0) for (const value of splitFramed(p.data)) clicks.push({ partition, value });
    });
    const letters = batch.rejected.map((r) => {
      const m = messages[r.index]!;
      return {
        source: `kafka:${o.inTopic}/${m.partition}`,
        index: Number(m.offset),
        code: r.code,
        field: r.field,
        reason: r.message,
        payload: m.value === null ? '' : m.value.toString('utf8'),
        receivedAt: now,
      };
    });
    return { clicks, letters };
  };
}
