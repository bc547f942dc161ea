import { generateNdjson, type GenerateStats } from '../core/generate/index.js';
import { parseTime } from '../services/query/params.js';

/** `tally generate`'s choices; absent ones take the generator's defaults. */
export interface GenerateRequest {
  count?: number | undefined;
  ads?: number | undefined;
  seed?: number | undefined;
  /** event time of the first line, ISO-8601 or epoch ms (default: so the last line is now) */
  start?: string | undefined;
  rate?: number | undefined;
  zipf?: number | undefined;
  duplicates?: number | undefined;
  late?: number | undefined;
  invalid?: number | undefined;
  disorder?: number | undefined;
}

/** NDJSON chunks of synthetic clicks; the generator's return value counts each kind of line. */
export function clickLines(req: GenerateRequest, now: number): Generator<string, GenerateStats> {
  const count = req.count ?? 100_000;
  const rate = req.rate ?? 1000;
  return generateNdjson({
    seed: req.seed ?? 1,
    count,
    startTime: parseTime('start', req.start) ?? now - Math.ceil((count * 1000) / rate),
    eventsPerSecond: rate,
    // undefined takes the generator's default
    ads: req.ads,
    zipfExponent: req.zipf,
    duplicateRate: req.duplicates,
    lateRate: req.late,
    invalidRate: req.invalid,
    disorderMs: req.disorder,
  });
}
