import type { Command } from 'commander';
import { commandContext } from '../context.js';
import { printJson } from '../output.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/readers.js');

interface RangeFlags {
  from?: string;
  to?: string;
  filter?: string;
}

/** `count` and `timeseries`: one ad over a range of minutes, optionally filtered. */
function adRangeCommand(
  query: Command,
  name: 'count' | 'timeseries',
  what: { description: string; defaultSpan: string; defaultTo: string },
  program: Command,
): void {
  query
    .command(`${name} <ad_id>`)
    .description(what.description)
    .option('--from <time>', `ISO-8601 or epoch ms (default: to − ${what.defaultSpan})`)
    .option('--to <time>', `ISO-8601 or epoch ms (default: ${what.defaultTo})`)
    .option('--filter <filter>', 'a named filter or an expression such as country=US,CA')
    .action(async (adId: string, opts: RangeFlags) => {
      printJson(await (await app()).withQuery(commandContext(program), (q) => q[name](adId, opts)));
    });
}

/** Queries read the store, beside a running `tally start` too; the JSON is the HTTP API's. */
export function registerQuery(program: Command): void {
  const query = program.command('query').description('read aggregates (same JSON as the HTTP API)');
  adRangeCommand(
    query,
    'count',
    {
      description: 'clicks of one ad over the minutes from ≤ m < to',
      defaultSpan: '1 min',
      defaultTo: 'the end of the last closed minute',
    },
    program,
  );
  query
    .command('top')
    .description('the most clicked ads over the window ending at --to')
    .option('--count <n>', 'how many ads (default 100)')
    .option('--window <minutes>', 'window size in minutes (default 1)')
    .option('--to <time>', 'window end (default: the end of the last closed minute)')
    .option('--filter <filter>', 'a named filter or an expression such as country=US')
    .action(async (opts: { count?: string; window?: string; to?: string; filter?: string }) => {
      printJson(await (await app()).withQuery(commandContext(program), (q) => q.popular(opts)));
    });
  adRangeCommand(
    query,
    'timeseries',
    { description: 'per-minute counts of one ad', defaultSpan: '60 min', defaultTo: 'now' },
    program,
  );
}
