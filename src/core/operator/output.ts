/** What the operator emits between two takeOutput calls. */
import type { LateEvent, MinuteRow, TopRow } from '../aggregate/types.js';

export interface OperatorStats {
  /** non-duplicate events: counted + late */
  events: number;
  duplicates: number;
  late: number;
}

export interface OperatorOutput {
  rows: MinuteRow[];
  top: TopRow[];
  late: LateEvent[];
  /** since the last takeOutput */
  stats: OperatorStats;
}

/** Collects the output; counting adds late events and stats, emission rows and top lists. */
export class OutputBuffer implements OperatorOutput {
  rows: MinuteRow[] = [];
  top: TopRow[] = [];
  late: LateEvent[] = [];
  stats: OperatorStats = { events: 0, duplicates: 0, late: 0 };

  /** What was collected since the last call. */
  take(): OperatorOutput {
    const out: OperatorOutput = {
      rows: this.rows,
      top: this.top,
      late: this.late,
      stats: this.stats,
    };
    this.rows = [];
    this.top = [];
    this.late = [];
    this.stats = { events: 0, duplicates: 0, late: 0 };
    return out;
  }
}
