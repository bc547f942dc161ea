/**
 * One ingest process of the clicks.in test: the ingest role of openDistributed consuming
 * `<ns>.clicks.in`, with the stable transactional id of its slot. Prints "accepted <n>" as the
 * committed clicks grow, until killed.
 * Usage: node ingest-child.js <namespace>
 */
import { openDistributed } from '../../../src/app/distributed.js';
import { createLogger } from '../../../src/services/observability/logger.js';
import { BROKERS, DATABASE_URL } from './support.js';
import { pipelineConfig } from './pipeline-config.js';

const [ns] = process.argv.slice(2) as [string];
const logger = createLogger(process.env.TALLY_LOG_LEVEL ?? 'warn', 'ingest-child');
const app = await openDistributed(
  pipelineConfig,
  {
    brokers: BROKERS,
    databaseUrl: DATABASE_URL,
    namespace: ns,
    roles: ['ingest'],
    clicksIn: { transactionalId: `${ns}.clicks-in.0`, sessionTimeoutMs: 6_000 },
  },
  { logger },
);
let cycles = 0;
// committed cycles count their clicks in the ingest metric
setInterval(async () => {
  const m = await app.metrics.ingestEvents.get();
  const n = m.values.find((v) => v.labels['source'] === 'kafka')?.value ?? 0;
  if (n !== cycles) {
    cycles = n;
    process.stdout.write(`accepted ${n}\n`);
  }
}, 50);
process.stdout.write('running\n');
