/**
 * `tally start --mode distributed [--role …]`: the roles of the distributed deployment in
 * this process (SPEC §5), with the HTTP API where the ingest or query role runs and
 * /healthz, /metrics everywhere.
 *
 * The HTTP server listens first: while start-up waits for the broker or the database, /healthz
 * answers 503 naming what it waits for and why, and POST /v1/clicks answers 503 with
 * Retry-After. Then the four topics are created (`<ns>.clicks.in`, `<ns>.clicks`,
 * `<ns>.aggregates` with `log.partitions` partitions, `<ns>.deadletters` with one), the roles
 * opened, and the ingest role's intake from `<ns>.clicks.in` joins its consumer group.
 */
import { ClicksIntake, DEFAULT_GROUP_TIMING, ensureTopic } from '../adapters/log-kafka/index.js';
import type { Config, DistributedRoleName } from '../config/index.js';
import { TallyError } from '../core/errors.js';
import { DemoFeeder } from '../services/demo/demo-feeder.js';
import type { HttpDeps } from '../services/http/deps.js';
import { Lifecycle } from '../services/http/lifecycle.js';
import { buildHttpServer } from '../services/http/server.js';
import { intakeTransform } from '../services/ingest/intake-transform.js';
import type { IngestService } from '../services/ingest/ingest-service.js';
import type { Logger } from '../services/observability/logger.js';
import { createMetrics } from '../services/observability/metrics.js';
import type { QueryService } from '../services/query/query-service.js';
import {
  ALL_ROLES,
  type DistributedApp,
  type DistributedRole,
  namespaceTopics,
  openDistributed,
  waitFor,
} from './distributed.js';
import { healthBody, iso, type Serving } from './http.js';
import { httpDepsFromDistributed } from './http-distributed.js';

/** The roles a config names, `all` expanded, in a fixed order. */
export function expandRoles(names: readonly DistributedRoleName[]): DistributedRole[] {
  const set = new Set<DistributedRole>(names.flatMap((r) => (r === 'all' ? ALL_ROLES : [r])));
  return ALL_ROLES.filter((r) => set.has(r));
}

/** `<ns>.clicks.in` beside the topics of distributed.ts */
export function intakeTopic(ns: string): string {
  return `${ns}.clicks.in`;
}

/** every topic of a deployment, with its partition count */
export function deploymentTopics(config: Readonly<Config>) {
  const ns = config.distributed.namespace;
  const t = namespaceTopics(ns);
  const n = config.log.partitions;
  return [
    { name: intakeTopic(ns), partitions: n },
    { name: t.clicks, partitions: n },
    { name: t.aggregates, partitions: n },
    // one partition: dead letters are listed in arrival order
    { name: t.deadletters, partitions: 1 },
  ];
}

/** host:port list of the brokers, for messages */
function kafkaName(config: Readonly<Config>): string {
  return `Kafka at ${config.distributed.brokers.join(',')}`;
}

export interface DistributedServing extends Serving {
  roles: DistributedRole[];
  namespace: string;
}

export async function serveDistributed(
  ctx: { config: Readonly<Config>; logger: Logger },
  opts: {
    demo: boolean;
    startupTimeoutMs?: number;
    /** called once the HTTP server listens, before the roles are open */
    onListening?: (address: string) => void;
  },
): Promise<DistributedServing> {
  const { config, logger } = ctx;
  const d = config.distributed;
  const roles = expandRoles(d.roles);
  const metrics = createMetrics();
  const lifecycle = new Lifecycle('starting');
  const startedAt = Date.now();
  let waiting = { what: 'start-up', reason: 'opening the roles', since: startedAt };
  let app: DistributedApp | undefined;
  let full: HttpDeps | undefined;

  const notYet = () =>
    new TallyError(
      'TALLY_UNAVAILABLE',
      `starting: waiting for ${waiting.what}: ${waiting.reason}`,
      { details: { retryAfterSeconds: 2 } },
    );
  const notHere = (role: DistributedRole, what: string) =>
    new TallyError(
      'TALLY_NOT_FOUND',
      `${what} needs the ${role} role; this process runs ${roles.join(',')}`,
      { field: 'role' },
    );
  const deps: HttpDeps = {
    metrics,
    get ingest(): IngestService {
      if (app === undefined) throw notYet();
      if (app.ingest === undefined) throw notHere('ingest', 'POST /v1/clicks');
      return app.ingest;
    },
    get query(): QueryService {
      if (app === undefined) throw notYet();
      if (app.query === undefined) throw notHere('query', 'the query API');
      return app.query;
    },
    status() {
      if (app === undefined) throw notYet();
      if (full === undefined) throw notHere('ingest', 'GET /v1/status (ingest and query roles)');
      return full.status();
    },
    health() {
      if (app !== undefined) return healthBody(app, lifecycle);
      return {
        status: 'starting' as const,
        live: true,
        ready: false,
        uptime_seconds: (Date.now() - startedAt) / 1000,
        problems: [
          {
            component: 'startup',
            code: 'TALLY_UNAVAILABLE' as const,
            reason: `waiting for ${waiting.what}: ${waiting.reason}`,
            since: iso(waiting.since),
          },
        ],
      };
    },
  };

  const server = buildHttpServer(deps, { bodyLimitBytes: config.http.bodyLimitBytes, logger });
  const address = await server.listen({ host: config.http.host, port: config.http.port });
  opts.onListening?.(address);
  let intake: ClicksIntake | undefined;
  let demo: DemoFeeder | undefined;
  try {
    const wait = {
      logger,
      timeoutMs: opts.startupTimeoutMs,
      onWaiting: (what: string, reason: string) => {
        waiting = { what, reason, since: waiting.what === what ? waiting.since : Date.now() };
      },
    };
    await waitFor(
      kafkaName(config),
      async () => {
        for (const t of deploymentTopics(config))
          await ensureTopic(d.brokers, t.name, t.partitions);
      },
      wait,
    );
    const opened = await openDistributed(
      config,
      {
        brokers: d.brokers,
        databaseUrl: d.databaseUrl,
        namespace: d.namespace,
        roles,
        group: { ...DEFAULT_GROUP_TIMING, sessionTimeoutMs: d.sessionTimeoutMs },
        onWaiting: wait.onWaiting,
        ...(opts.startupTimeoutMs === undefined ? {} : { startupTimeoutMs: opts.startupTimeoutMs }),
      },
      { logger, metrics },
    );
    try {
      if (roles.includes('ingest')) {
        intake = await waitFor(
          kafkaName(config),
          () =>
            ClicksIntake.open({
              brokers: d.brokers,
              inTopic: intakeTopic(d.namespace),
              clicksTopic: opened.topics.clicks,
              deadLettersTopic: opened.topics.deadletters,
              groupId: `${d.namespace}.ingest`,
              transactionalIdPrefix: `${d.namespace}.ingest`,
              transform: intakeTransform({
                partitions: config.log.partitions,
                maxFutureSkewMs: config.aggregation.maxFutureSkewMs,
                clock: opened.clock,
                metrics,
              }),
              logger,
              health: opened.health,
            }),
          wait,
        );
        intake.start();
      }
      opened.start();
      if (opened.ingest !== undefined && opened.query !== undefined) {
        full = httpDepsFromDistributed(opened, { lifecycle });
      }
      if (opts.demo && opened.ingest !== undefined) {
        demo = new DemoFeeder(opened.ingest, config.demo, opened.clock, logger);
        demo.start();
      }
    } catch (e) {
      await intake?.close();
      await opened.close();
      throw e;
    }
    app = opened;
  } catch (e) {
    await server.close();
    throw e;
  }
  lifecycle.ready();
  logger.info({ address, roles, namespace: d.namespace }, 'tally (distributed) is serving');
  return {
    address,
    dataDir: config.dataDir,
    demo: demo !== undefined,
    roles,
    namespace: d.namespace,
    async stop() {
      lifecycle.stopping();
      await demo?.stop();
      await server.close();
      try {
        await intake?.close();
      } finally {
        await app?.close();
      }
    },
  };
}
