import { loadConfig } from '../../../src/config/index.js';

/** The distributed pipeline test's config: 4 partitions, frequent commits and snapshots. */
export const pipelineConfig = loadConfig({
  env: {},
  overrides: {
    log: { partitions: 4 },
    aggregation: { commitIntervalMs: 100, snapshotIntervalMs: 700 },
  },
});
