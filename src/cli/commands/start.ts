import type { Command } from 'commander';
import { openEmbedded } from '../../app/embedded.js';
import { DemoFeeder } from '../../services/demo/demo-feeder.js';
import { TallyError } from '../../core/errors.js';
import { commandConfig, type GlobalOptions } from '../context.js';
import { onShutdown } from '../shutdown.js';

interface StartOptions {
  port?: string;
  host?: string;
  demo?: boolean;
  demoRate?: string;
  mode?: string;
  role?: string;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('ingest + aggregation + query API + dashboard in one process (embedded default)')
    .option('--port <port>', 'HTTP port (default 8080)')
    .option('--host <host>', 'HTTP host (default 127.0.0.1)')
    .option('--demo', 'feed synthetic clicks so numbers move within seconds')
    .option('--demo-rate <events/s>', 'synthetic clicks per second (default 2000)')
    .option('--mode <mode>', 'embedded (default) or distributed')
    .option('--role <role>', 'distributed mode: all|ingest|aggregator|writer|query')
    .action(async (opts: StartOptions) => {
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
        throw new TallyError('TALLY_BAD_PARAMETER', `--port: must be 0–65535, got "${opts.port}"`, {
          field: 'port',
        });
      }
      const rate = opts.demoRate === undefined ? undefined : Number(opts.demoRate);
      if (rate !== undefined && (!Number.isInteger(rate) || rate < 1)) {
        throw new TallyError(
          'TALLY_BAD_PARAMETER',
          `--demo-rate: must be a positive integer, got "${opts.demoRate}"`,
          {
            field: 'demo-rate',
          },
        );
      }
      const { config, logger } = commandConfig(program.opts<GlobalOptions>(), {
        http: {
          ...(port === undefined ? {} : { port }),
          ...(opts.host ? { host: opts.host } : {}),
        },
        ...(opts.mode ? { mode: opts.mode as 'embedded' } : {}),
        ...(rate === undefined ? {} : { demo: { eventsPerSecond: rate } }),
      });
      if (config.mode !== 'embedded') {
        throw new TallyError(
          'TALLY_CONFIG_INVALID',
          'mode: only the embedded mode is available in this build (the distributed mode on Kafka and PostgreSQL is not built yet)',
          { field: 'mode' },
        );
      }
      // the HTTP stack (fastify, OpenAPI) loads only here: other commands start faster
      const [{ buildHttpServer }, { httpDepsFromEmbedded }, { Lifecycle }] = await Promise.all([
        import('../../services/http/server.js'),
        import('../../services/http/embedded-deps.js'),
        import('../../services/http/lifecycle.js'),
      ]);
      const app = await openEmbedded(config, { logger });
      app.runner.start();
      const lifecycle = new Lifecycle('starting');
      const deps = httpDepsFromEmbedded(app, { lifecycle });
      const server = buildHttpServer(deps, { bodyLimitBytes: config.http.bodyLimitBytes, logger });
      const address = await server.listen({ host: config.http.host, port: config.http.port });
      const demo = opts.demo
        ? new DemoFeeder(app.ingest, config.demo, app.clock, logger)
        : undefined;
      demo?.start();
      lifecycle.ready();
      logger.info(
        { address, dataDir: app.config.dataDir, demo: Boolean(demo) },
        'tally is serving',
      );
      process.stderr.write(
        `tally: serving on ${address} (data in ${app.config.dataDir})${demo ? ', demo traffic on' : ''}\n`,
      );
      await onShutdown(async () => {
        lifecycle.stopping(); // /healthz answers 503: balancers drain this instance
        await demo?.stop();
        await server.close(); // stop accepting; in-flight requests finish (their appends are durable)
        await app.close(); // final cycle: commit and snapshot
      });
      process.stderr.write('tally: stopped cleanly\n');
    });
}
