/**
 * One process of the distributed pipeline tests: the aggregator or the writer role of
 * openDistributed over the run's namespace (the group test config). `run`: cycles until
 * killed (prints "running" once started); `drain`: consumes everything, closes every minute,
 * commits, exits 0.
 * Usage: node aggregator-child.js <namespace> aggregator|writer run|drain
 */
import { openDistributed } from '../../../src/app/distributed.js';
import { createLogger } from '../../../src/services/observability/logger.js';
import { groupConfig, TEST_GROUP } from './group-support.js';
import { BROKERS, DATABASE_URL } from './support.js';

const [ns, role, mode] = process.argv.slice(2) as [string, 'aggregator' | 'writer', string];
const app = await openDistributed(
  groupConfig,
  { brokers: BROKERS, databaseUrl: DATABASE_URL, namespace: ns, roles: [role], group: TEST_GROUP },
  { logger: createLogger(process.env.TALLY_LOG_LEVEL ?? 'warn', `${role}-child`) },
);
if (mode === 'drain') {
  if (role === 'aggregator') await app.aggregator!.drain();
  else await app.writer!.drain();
  const counters = app.aggregator?.counters ?? app.writer?.counters;
  await app.close();
  process.stdout.write(`${JSON.stringify(counters)}\n`);
} else {
  app.start();
  process.stdout.write('running\n');
}
