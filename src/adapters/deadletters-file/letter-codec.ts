import type { DeadLetter } from '../../ports/dead-letters.js';

/** One dead letter as one NDJSON line (JSON escapes every newline inside the payload). */
export function encodeLetter(l: DeadLetter): string {
  return `${JSON.stringify({
    source: l.source,
    index: l.index,
    code: l.code,
    field: l.field ?? null,
    reason: l.reason,
    payload: l.payload,
    receivedAt: l.receivedAt,
  })}\n`;
}

/** The dead letter on one line, or undefined when the line is not one. */
export function decodeLetter(line: string): DeadLetter | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (
    typeof o.source !== 'string' ||
    typeof o.index !== 'number' ||
    typeof o.code !== 'string' ||
    (o.field !== null && typeof o.field !== 'string') ||
    typeof o.reason !== 'string' ||
    typeof o.payload !== 'string' ||
    typeof o.receivedAt !== 'number'
  ) {
    return undefined;
  }
  return {
    source: o.source,
    index: o.index,
    code: o.code,
    field: o.field ?? undefined,
    reason: o.reason,
    payload: o.payload,
    receivedAt: o.receivedAt,
  };
}
