/**
 * One aggregator process of the distributed pipeline test: the aggregator role of
 * openDistributed over the run's namespace. `run`: cycles until killed (prints "running" once
 * restored and started); `drain`: consumes everything, closes every minute, commits, exits 0.
 * Usage: node aggregator-child.js <namespace> run|drain
 */
import { openDistributed } from '../../../src/app/distributed.js';
import { createLogger } from '../../../src/services/observability/logger.js';
import { BROKERS, DATABASE_URL } from './support.js';
import { pipelineConfig } from './pipeline-config.js';

const [ns, mode] = process.argv.slice(2);
const app = await openDistributed(
  pipelineConfig,
  { brokers: BROKERS, databaseUrl: DATABASE_URL, namespace: ns as string, roles: ['aggregator'] },
  { logger: createLogger(process.env.TALLY_LOG_LEVEL ?? 'warn', 'aggregator-child') },
);
const runner = app.runner!;
if (mode === 'drain') {
  await runner.drain();
  await app.close();
  process.stdout.write(`${JSON.stringify(runner.counters)}\n`);
} else {
  runner.start();
  process.stdout.write('running\n');
}
