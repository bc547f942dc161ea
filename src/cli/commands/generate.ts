import type { Command } from 'commander';
import { TallyError } from '../../core/errors.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/generate.js');

function num(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) {
    throw new TallyError('TALLY_BAD_PARAMETER', `--${name}: must be a number, got "${raw}"`, {
      field: name,
    });
  }
  return n;
}

interface GenerateFlags {
  count?: string;
  ads?: string;
  seed?: string;
  start?: string;
  rate?: string;
  zipf?: string;
  duplicates?: string;
  late?: string;
  invalid?: string;
  disorder?: string;
}

/** Writes a chunk, waiting when stdout's buffer is full; resolves false once the reader is gone. */
function write(chunk: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (process.stdout.write(chunk)) resolve(true);
    else process.stdout.once('drain', () => resolve(true));
  });
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description(
      'synthetic clicks as NDJSON on stdout: Zipf-popular ads, duplicates, late and invalid events',
    )
    .option('--count <n>', 'lines (default 100000)')
    .option('--ads <n>', 'distinct ads (default 10000)')
    .option('--seed <n>', 'same seed, same output (default 1)')
    .option('--start <time>', 'event time of the first line (default: so the last line is now)')
    .option('--rate <events/s>', 'lines per second of event time (default 1000)')
    .option('--zipf <s>', 'Zipf exponent of ad popularity (default 1.05)')
    .option('--duplicates <rate>', 'share of verbatim re-sent lines (default 0.03)')
    .option('--late <rate>', 'share of events beyond the allowed lateness (default 0.001)')
    .option('--invalid <rate>', 'share of invalid records (default 0.01)')
    .option('--disorder <ms>', 'maximum backwards jitter of on-time events (default 30000)')
    .action(async (f: GenerateFlags) => {
      const it = (await app()).clickLines(
        {
          count: num('count', f.count),
          ads: num('ads', f.ads),
          seed: num('seed', f.seed),
          start: f.start,
          rate: num('rate', f.rate),
          zipf: num('zipf', f.zipf),
          duplicates: num('duplicates', f.duplicates),
          late: num('late', f.late),
          invalid: num('invalid', f.invalid),
          disorder: num('disorder', f.disorder),
        },
        Date.now(),
      );
      let closed = false;
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE')
          closed = true; // `tally generate | head`: the reader left
        else throw e;
      });
      for (;;) {
        const r = it.next();
        if (r.done) {
          process.stderr.write(`${JSON.stringify({ generated: r.value })}\n`);
          break;
        }
        if (closed) break;
        await write(r.value);
      }
    });
}
