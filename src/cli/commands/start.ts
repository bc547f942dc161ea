import type { Command } from 'commander';
import { TallyError } from '../../core/errors.js';
import { commandContext } from '../context.js';
import {
  addModeOption,
  checkRoleNeedsDistributed,
  modeOverrides,
  type ModeOptions,
} from '../distributed-options.js';
import { exitIfHeld, onShutdown } from '../shutdown.js';

interface StartOptions extends ModeOptions {
  port?: string;
  host?: string;
  demo?: boolean;
  demoRate?: string;
}

export function registerStart(program: Command): void {
  const cmd = program
    .command('start')
    .description(
      'ingest + aggregation + query API + dashboard in one process (embedded default); ' +
        'with --mode distributed, the roles of a Kafka + PostgreSQL deployment',
    );
  addModeOption(cmd)
    .option(
      '--role <roles>',
      'distributed mode: all (default) or some of ingest,aggregator,writer,query, comma-separated (env TALLY_ROLE)',
    )
    .option('--port <port>', 'HTTP port (default 8080)')
    .option('--host <host>', 'HTTP host (default 127.0.0.1)')
    .option('--demo', 'feed synthetic clicks so numbers move within seconds')
    .option('--demo-rate <events/s>', 'synthetic clicks per second (default 2000)')
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
          { field: 'demo-rate' },
        );
      }
      const ctx = commandContext(program, {
        ...modeOverrides(opts),
        http: {
          ...(port === undefined ? {} : { port }),
          ...(opts.host ? { host: opts.host } : {}),
        },
        ...(rate === undefined ? {} : { demo: { eventsPerSecond: rate } }),
      });
      checkRoleNeedsDistributed(opts, ctx.config.mode);
      if (ctx.config.mode === 'distributed') {
        const { serveDistributed } = await import('../../app/serve-distributed.js');
        const d = ctx.config.distributed;
        process.stderr.write(
          `tally: distributed, roles ${d.roles.join(',')}, namespace ${d.namespace}: starting (Kafka at ${d.brokers.join(',')}, PostgreSQL)\n`,
        );
        const s = await serveDistributed(ctx, {
          demo: opts.demo === true,
          onListening: (address) =>
            process.stderr.write(
              `tally: listening on ${address}; /healthz is ready once the roles are open\n`,
            ),
        });
        process.stderr.write(
          `tally: serving on ${s.address}, roles ${s.roles.join(',')}, namespace ${s.namespace}${s.demo ? ', demo traffic on' : ''}\n`,
        );
        await onShutdown(() => s.stop());
        process.stderr.write('tally: stopped cleanly\n');
        exitIfHeld();
        return;
      }
      // the HTTP stack (fastify, OpenAPI) loads only here: other commands start faster
      const { serve } = await import('../../app/http.js');
      const serving = await serve(ctx, { demo: opts.demo === true });
      process.stderr.write(
        `tally: serving on ${serving.address} (data in ${serving.dataDir})${serving.demo ? ', demo traffic on' : ''}\n`,
      );
      await onShutdown(() => serving.stop());
      process.stderr.write('tally: stopped cleanly\n');
    });
}
