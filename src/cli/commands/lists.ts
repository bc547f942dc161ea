import type { Command } from 'commander';
import { commandContext } from '../context.js';
import { printJsonLines } from '../output.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/readers.js');

/** `tally deadletters` and `tally late`: one JSON object per line, oldest first. */
export function registerLists(program: Command): void {
  program
    .command('deadletters')
    .description('list rejected records with their reason and raw payload (NDJSON)')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--offset <n>', 'skip this many (default 0)')
    .action(async (opts: { limit?: string; offset?: string }) => {
      printJsonLines(await (await app()).deadLetterLines(commandContext(program), opts));
    });
  program
    .command('late')
    .description('list events that came beyond the allowed lateness (NDJSON)')
    .option('--limit <n>', 'at most this many (default 1000)')
    .action(async (opts: { limit?: string }) => {
      printJsonLines(await (await app()).lateLines(commandContext(program), opts));
    });
}
