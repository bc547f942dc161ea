/**
 * Event-time progress (SPEC §2): each partition's watermark trails the largest event time it
 * has seen by `watermarkDelay` (bounded out-of-orderness); the pipeline's watermark is the
 * minimum over partitions that are not idle; when every partition is idle it follows the
 * wall clock, so the last minutes close without more traffic. Wall time is passed in.
 */

export interface WatermarkRules {
  watermarkDelayMs: number;
  idleTimeoutMs: number;
}

/** What the watermark needs to know of one partition. */
export interface PartitionProgress {
  /** the largest event time seen (counted or late, not duplicates); undefined: none yet */
  maxEventTime: number | undefined;
  /** wall-clock ms of the last arrival of any record; undefined: nothing ever arrived */
  lastArrival: number | undefined;
}

/** maxEventTime − delay; undefined for a partition that has seen no event. */
export function partitionWatermark(
  p: PartitionProgress,
  rules: WatermarkRules,
): number | undefined {
  return p.maxEventTime === undefined ? undefined : p.maxEventTime - rules.watermarkDelayMs;
}

/** No record arrived for idleTimeout of wall time (or never): the partition holds nothing back. */
export function isIdle(p: PartitionProgress, now: number, rules: WatermarkRules): boolean {
  return p.lastArrival === undefined || now - p.lastArrival >= rules.idleTimeoutMs;
}

/**
 * The pipeline watermark as of wall time `now`, never below `previous`. A partition that is
 * active but has no watermark yet (it only received duplicates) holds the watermark back.
 * The wall-clock rule applies once no event AT ALL has arrived for idleTimeout: counted from
 * the last arrival anywhere, or from `startedAt` when nothing ever arrived — a pipeline that
 * just started must not close every minute before its first events come in.
 */
export function pipelineWatermark(
  parts: readonly PartitionProgress[],
  now: number,
  rules: WatermarkRules,
  previous: number,
  startedAt: number,
): number {
  let min = Infinity;
  let active = 0;
  let quietSince = startedAt;
  for (const p of parts) {
    if (p.lastArrival !== undefined && p.lastArrival > quietSince) quietSince = p.lastArrival;
    if (isIdle(p, now, rules)) continue;
    active++;
    const wm = partitionWatermark(p, rules);
    min = Math.min(min, wm === undefined ? -Infinity : wm);
  }
  if (active > 0) return Math.max(previous, min);
  return now - quietSince >= rules.idleTimeoutMs
    ? Math.max(previous, now - rules.watermarkDelayMs)
    : previous;
}
