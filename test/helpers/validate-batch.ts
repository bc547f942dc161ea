/**
 * A batch of parsed records → the accepted events and the rejected ones, with the index and
 * raw payload the dead-letter store keeps (SPEC §1: bad input is never lost, never fatal):
 * the object path (parse-body.ts + validateEvent) over a whole batch, the reference the
 * tests hold the encoder to.
 */
import type { Rejection } from '../../src/core/errors.js';
import type { ParsedRecord } from '../../src/core/event/parse-body.js';
import type { ClickEvent, ValidationOptions } from '../../src/core/event/types.js';
import { validateEvent } from '../../src/core/event/validate.js';

export interface RejectedRecord {
  /** position among the batch's records (see parse-body.ts) */
  index: number;
  rejection: Rejection;
  /** the record's text, for the dead-letter store */
  payload: string;
}

export interface ValidatedBatch {
  events: ClickEvent[];
  rejected: RejectedRecord[];
}

function payloadOf(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Validates parsed records; valid ones are accepted whatever their neighbours hold. */
export function validateBatch(
  records: Iterable<ParsedRecord>,
  opts: ValidationOptions,
): ValidatedBatch {
  const events: ClickEvent[] = [];
  const rejected: RejectedRecord[] = [];
  for (const r of records) {
    if (!r.ok) {
      rejected.push({ index: r.index, rejection: r.rejection, payload: r.raw });
      continue;
    }
    const v = validateEvent(r.value, opts);
    if (v.ok) events.push(v.event);
    else
      rejected.push({
        index: r.index,
        rejection: v.rejection,
        payload: r.raw ?? payloadOf(r.value),
      });
  }
  return { events, rejected };
}
