import type { Command } from 'commander';
import { TallyError } from '../../core/errors.js';
import { commandContext } from '../context.js';
import { addModeOption, modeOverrides, type ModeOptions } from '../distributed-options.js';
import { printJson } from '../output.js';
import { onShutdown } from '../shutdown.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/watch.js');

interface WatchOptions extends ModeOptions {
  statusPort?: string;
  aggregate?: boolean;
  once?: boolean;
  pollInterval?: string;
  rotatedIdle?: string;
}

function intOption(name: string, raw: string | undefined, min: number, max: number) {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new TallyError('TALLY_BAD_PARAMETER', `--${name}: must be an integer ${min}–${max}`, {
      field: name,
    });
  }
  return v;
}

export function registerWatch(program: Command): void {
  const cmd = program
    .command('watch <paths...>')
    .description(
      'follow NDJSON click logs (paths or globs) as they grow and rotate, like tail -F, into the log (with --mode distributed, into <ns>.clicks)',
    );
  addModeOption(cmd)
    .option('--status-port <port>', 'serve GET /metrics and GET /status here (0: a free port)')
    .option('--aggregate', 'also run the aggregator in this process')
    .option('--once', 'read every file up to its last whole line, save the positions, exit')
    .option('--poll-interval <ms>', 'how often files are checked (default 250)')
    .option('--rotated-idle <ms>', 'finish a rotated-away file after this long idle (default 5000)')
    .action(async (paths: string[], opts: WatchOptions) => {
      const statusPort = intOption('status-port', opts.statusPort, 0, 65535);
      const pollIntervalMs = intOption('poll-interval', opts.pollInterval, 10, 3_600_000);
      const rotatedIdleMs = intOption('rotated-idle', opts.rotatedIdle, 0, 86_400_000);
      const { config, logger } = commandContext(program, {
        ...modeOverrides({ ...(opts.mode === undefined ? {} : { mode: opts.mode }) }),
        watch: {
          ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
          ...(rotatedIdleMs === undefined ? {} : { rotatedIdleMs }),
        },
      });
      const w = await (
        await app()
      ).openWatch(config, {
        logger,
        patterns: paths,
        cwd: process.cwd(),
        statusPort,
        aggregate: opts.aggregate === true,
        once: opts.once === true,
      });
      process.stderr.write(
        `tally: watching ${paths.join(' ')} into ` +
          (config.mode === 'distributed'
            ? `${config.distributed.namespace}.clicks (positions in ${config.dataDir})`
            : config.dataDir) +
          (w.statusUrl ? `; /metrics and /status on ${w.statusUrl}` : '') +
          '\n',
      );
      await new Promise<void>((resolve, reject) => {
        onShutdown(() => w.close()).then(resolve, reject);
        w.watcher.done().then(
          () => (opts.once ? w.close().then(resolve, reject) : undefined),
          (e: unknown) =>
            w.close().then(
              () => reject(e),
              () => reject(e),
            ),
        );
      });
      const s = w.watcher.status();
      printJson({ lines: s.linesSent, accepted: s.accepted, rejected: s.rejected });
    });
}
