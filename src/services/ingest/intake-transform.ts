/**
 * The transform of the ingest role's intake from `<ns>.clicks.in`: each message is ONE click,
 * read by the one encoder and validator of every ingest path exactly as a line of NDJSON is
 * (a message with line breaks inside as one JSON value), so a click is accepted or rejected
 * here as over HTTP. A message that is a JSON array or holds several values is rejected whole. Rejected records become dead letters whose source names the message's Kafka
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

/** the first byte of `b` that is not JSON whitespace, or -1 */
function firstNonBlank(b: Buffer): number {
  for (const c of b) if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
  return -1;
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
      const multiline = value.includes(10);
      if (multiline && firstNonBlank(value) === 0x5b) {
        letter(m, {
          code: 'TALLY_EVENT_NOT_OBJECT',
          field: undefined,
          reason: 'the message is a JSON array: one click (a JSON object) per message',
          payload: value.toString('utf8'),
        });
        continue;
      }
      const batch = encoder.encodeBody(
        value,
        multiline ? 'application/json' : 'application/x-ndjson',
        { now, maxFutureSkewMs: o.maxFutureSkewMs, partitions: o.partitions },
      );
      if (batch.records !== 1) {
        letter(m, {
          code: batch.records === 0 ? 'TALLY_EVENT_MALFORMED_JSON' : 'TALLY_EVENT_NOT_OBJECT',
          field: undefined,
          reason:
            batch.records === 0
              ? 'the message is empty: one JSON click per message'
              : `the message holds ${batch.records} records: one click per message`,
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
