import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { TallyError } from '../../core/errors.js';
import { commandContext } from '../context.js';
import { addModeOption, modeOverrides } from '../distributed-options.js';
import { printJson } from '../output.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/ingest.js');

/**
 * Encoding runs on the main thread unless --encode-workers says otherwise: on the shared
 * 2-core machine this was measured on, the cores are rarely idle, and there one thread beat
 * the pool (its workers start cold and compete for the same cores). Workers pay where cores
 * are free; the pool takes at most one worker per core beyond the main thread.
 */
const MAX_ENCODE_WORKERS = Math.max(1, availableParallelism() - 1);

export function registerIngest(program: Command): void {
  const cmd = program
    .command('ingest <files...>')
    .description(
      'append NDJSON click events to the log ("-" reads stdin; with --mode distributed, to <ns>.clicks on Kafka); prints {"accepted","rejected"}',
    );
  addModeOption(cmd)
    .option(
      '--encode-workers <n>',
      `worker threads that parse and encode records beside the main thread (0–${MAX_ENCODE_WORKERS}; default 0)`,
    )
    .action(async (files: string[], cmd: { encodeWorkers?: string; mode?: string }) => {
      const ctx = commandContext(program, modeOverrides(cmd));
      for (const f of files) {
        if (f !== '-' && !existsSync(f)) {
          throw new TallyError('TALLY_BAD_PARAMETER', `file: cannot read "${f}": no such file`, {
            field: 'file',
          });
        }
      }
      const workers = cmd.encodeWorkers === undefined ? 0 : Number(cmd.encodeWorkers);
      if (!Number.isInteger(workers) || workers < 0 || workers > MAX_ENCODE_WORKERS) {
        throw new TallyError(
          'TALLY_BAD_PARAMETER',
          `--encode-workers: must be an integer from 0 to ${MAX_ENCODE_WORKERS}`,
          { field: 'encode-workers' },
        );
      }
      const totalBytes = files.reduce((sum, f) => sum + (f === '-' ? 0 : statSync(f).size), 0);
      const bar =
        process.stderr.isTTY && totalBytes > 8 * 1024 * 1024
          ? new cliProgress.SingleBar(
              {
                stream: process.stderr,
                format: 'ingest [{bar}] {percentage}% | {value}/{total} MiB | {eta}s left',
              },
              cliProgress.Presets.shades_classic,
            )
          : undefined;
      let done = 0;
      bar?.start(Math.ceil(totalBytes / 2 ** 20), 0);
      const totals = await (
        await app()
      )
        .ingestFiles(ctx, files, {
          workers,
          totalBytes,
          onBytes: (n) => {
            done += n;
            bar?.update(Math.floor(done / 2 ** 20));
          },
        })
        .finally(() => bar?.stop());
      printJson(totals);
    });
}
