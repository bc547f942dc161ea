import { loadConfig } from '../../../src/config/index.js';

/** The config of the tests that run the aggregator runner over the Kafka log: 4 partitions, frequent commits and snapshots. */
export const pipelineConfig = loadConfig({
  env: {},
  overrides: {
    log: { partitions: 4 },
    aggregation: { commitIntervalMs: 100, snapshotIntervalMs: 700 },
  },
});
