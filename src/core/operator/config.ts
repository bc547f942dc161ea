import { TallyError } from '../errors.js';
import type { Dimension } from '../aggregate/types.js';
import { DIMENSIONS } from '../aggregate/dimensions.js';

export interface AggregatorConfig {
  /** a partition's watermark trails its largest event time by this much (default 15 s) */
  watermarkDelayMs: number;
  /** events up to this far behind the watermark still correct their minute (default 5 min) */
  allowedLatenessMs: number;
  /** an event id is remembered until event time + this (default 1 h) */
  dedupHorizonMs: number;
  /** a partition with no arrival for this long of wall time holds nothing back (default 10 s) */
  idleTimeoutMs: number;
  /** pre-aggregated dimensions (default ['country']) */
  dimensions: Dimension[];
  /** length of each top list (default 100) */
  topN: number;
  /** sliding windows, in minutes, whose top N is computed at every minute (default [1, 5, 60]) */
  topWindows: number[];
}

export const DEFAULT_AGGREGATOR_CONFIG: Readonly<AggregatorConfig> =
  Object.freeze<AggregatorConfig>({
    watermarkDelayMs: 15_000,
    allowedLatenessMs: 300_000,
    dedupHorizonMs: 3_600_000,
    idleTimeoutMs: 10_000,
    dimensions: ['country'],
    topN: 100,
    topWindows: [1, 5, 60],
  });

function bad(field: string, why: string): TallyError {
  return new TallyError('TALLY_CONFIG_INVALID', `aggregator config: ${field} ${why}`, { field });
}

/** A checked, normalised copy: dimensions and windows deduplicated and sorted. */
export function normaliseAggregatorConfig(cfg: AggregatorConfig): AggregatorConfig {
  for (const k of [
    'watermarkDelayMs',
    'allowedLatenessMs',
    'dedupHorizonMs',
    'idleTimeoutMs',
  ] as const) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw bad(k, 'must be a finite number ≥ 0');
  }
  if (!Number.isInteger(cfg.topN) || cfg.topN < 1 || cfg.topN > 100_000)
    throw bad('topN', 'must be an integer in 1…100000');
  for (const d of cfg.dimensions)
    if (!DIMENSIONS.includes(d))
      throw bad('dimensions', `has an unknown dimension ${JSON.stringify(d)}`);
  for (const w of cfg.topWindows)
    if (!Number.isInteger(w) || w < 1 || w > 7 * 24 * 60)
      throw bad('topWindows', 'must hold integers in 1…10080 (minutes)');
  return {
    watermarkDelayMs: cfg.watermarkDelayMs,
    allowedLatenessMs: cfg.allowedLatenessMs,
    dedupHorizonMs: cfg.dedupHorizonMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    dimensions: DIMENSIONS.filter((d) => cfg.dimensions.includes(d)),
    topN: cfg.topN,
    topWindows: [...new Set(cfg.topWindows)].sort((a, b) => a - b),
  };
}
