/**
 * The transform of the ingest role's intake from `<ns>.clicks.in`: each message is read as a
 * request body of type application/json (one click; an array holds several) by the one
 * encoder and validator of every ingest path, so a click is accepted or rejected here exactly
 * as over HTTP. Rejected records become dead letters whose source names the message's Kafka
 * coordinates (`kafka:<topic>/<partition>@<offset>`) and whose index is its offset.
 */
import { BatchEncoder } from '../../core/event/encode-batch.js';
import type { IntakeMessage, IntakeOutput, IntakeTransform } from '../../ports/clicks-intake.js';
import type { Clock } from '../../ports/clock.js';
import type { DeadLetter } from '../../ports/dead-letters.js';
import type { Metrics } from '../observability/metrics.js';

export interface IntakeTransformOptions {
  /** partitions of `<ns>.clicks`: records are routed by ad_id as everywhere */
  partitions: number;
  maxFutureSkewMs: number;
  clock: Clock;
  metrics?: Metrics;
}

/** `kafka:<topic>/<partition>@<offset>`: where a dead letter of the intake came from */
export function kafkaSource(m: Pick<IntakeMessage, 'topic' | 'partition' | 'offset'>): string {
  return `kafka:${m.topic}/${m.partition}@${m.offset}`;
}

/**
 * Splits framed records ([u32 LE length][body] each) into copies of their bodies: the
 * encoder's buffers are reused by the next message.
 */
function bodies(data: Uint8Array, count: number): Buffer[] {
  const out: Buffer[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(pos, true);
    out.push(Buffer.from(data.subarray(pos + 4, pos + 4 + len)));
    pos += 4 + len;
  }
  return out;
}

export function intakeTransform(o: IntakeTransformOptions): IntakeTransform {
  const encoder = new BatchEncoder();
  return (messages) => {
    const now = o.clock.now();
    const out: IntakeOutput = { clicks: [], letters: [] };
    const letter = (m: IntakeMessage, l: Omit<DeadLetter, 'source' | 'index' | 'receivedAt'>) => {
      out.letters.push({ source: kafkaSource(m), index: m.offset, receivedAt: now, ...l });
      o.metrics?.ingestRejected.inc({ source: 'kafka', code: l.code });
    };
    for (const m of messages) {
      const value = m.value ?? Buffer.alloc(0);
      const batch = encoder.encodeBody(value, 'application/json', {
        now,
        maxFutureSkewMs: o.maxFutureSkewMs,
        partitions: o.partitions,
      });
      if (batch.records === 0) {
        letter(m, {
          code: 'TALLY_EVENT_MALFORMED_JSON',
          field: undefined,
          reason: 'the message is empty: one JSON click per message',
          payload: value.toString('utf8'),
        });
        continue;
      }
      for (const r of batch.rejected) {
        letter(m, { code: r.code, field: r.field, reason: r.message, payload: r.payload });
      }
      batch.perPartition.forEach((p, partition) => {
        if (p.count === 0) return;
        for (const body of bodies(p.data, p.count)) out.clicks.push({ partition, value: body });
      });
    }
    return out;
  };
}
