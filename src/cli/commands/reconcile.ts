import type { Command } from 'commander';
import type { reportJson } from '../../app/reconcile.js';
import { commandContext } from '../context.js';
import { printJson, printJsonLines } from '../output.js';
import { progressBar } from '../progress.js';

// the command's implementation is loaded when it runs, not when any command (or --help) starts
const app = () => import('../../app/reconcile.js');

type Report = ReturnType<typeof reportJson>;

/** The report as a table, for a person at a terminal. */
function printTable(r: Report): void {
  const lines: string[] = [];
  lines.push(
    `reconcile ${r.from} … ${r.to}${r.clamped ? ` (to clamped to the final minutes: ${r.final_up_to})` : ''}`,
    `events replayed ${r.events_replayed}, minutes ${r.minutes_checked}, rows ${r.rows_checked}, top lists ${r.tops_checked}`,
    `rows differing ${r.totals.rows_differing}, top lists differing ${r.totals.tops_differing}; clicks stored ${r.totals.stored}, recounted ${r.totals.recounted}, delta ${r.totals.delta}`,
  );
  if (r.differences.length > 0) {
    const head = ['minute', 'ad_id', 'dim', 'stored', 'recounted', 'delta', 'reason'];
    const rows = r.differences.map((d) => [
      d.minute,
      d.ad_id,
      d.dim,
      String(d.stored),
      String(d.recounted),
      (d.delta > 0 ? '+' : '') + String(d.delta),
      d.reason,
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    lines.push('', fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt));
  }
  for (const t of r.top_differences) {
    const list = (ads: Report['top_differences'][number]['stored']) =>
      ads === null
        ? '(none)'
        : ads
            .slice(0, 5)
            .map((a) => `${a.ad_id}:${a.count}`)
            .join(' ');
    lines.push(
      `top ${t.window} min ending ${t.end}: stored ${list(t.stored)} | recounted ${list(t.recounted)}`,
    );
  }
  if (r.repair !== null) {
    lines.push(
      '',
      `repaired (run ${r.repair.run_id}): ${r.repair.rows_changed} rows, ${r.repair.tops_changed} top lists, ${r.repair.late_folded} late events folded in`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerReconcile(program: Command): void {
  program
    .command('reconcile')
    .description(
      'recount the per-minute counts and top lists from raw events (archive + log tail) and report every difference; --repair writes the recount, audited',
    )
    .option('--from <time>', 'ISO-8601 or epoch ms (default: to − 24 h)')
    .option('--to <time>', 'ISO-8601 or epoch ms (default and limit: the end of the final minutes)')
    .option(
      '--repair',
      'write the recounted rows and top lists where they differ (audit trail: tally repairs)',
    )
    .option('--json', 'JSON even on a terminal')
    .action(async (opts: { from?: string; to?: string; repair?: boolean; json?: boolean }) => {
      const bar = progressBar('reconcile');
      try {
        const report = await (
          await app()
        ).reconcile(
          commandContext(program),
          {
            from: opts.from,
            to: opts.to,
            repair: opts.repair === true,
            note: `tally ${process.argv.slice(2).join(' ')}`,
          },
          (p) => bar.update(p.minutesDone, p.minutesTotal, `${p.events} events`),
        );
        bar.stop();
        const json = (await app()).reportJson(report);
        if (process.stdout.isTTY && opts.json !== true) printTable(json);
        else printJson(json);
      } finally {
        bar.stop();
      }
    });
  program
    .command('repairs')
    .description('list the audit trail of repairs, newest first, with every changed row (NDJSON)')
    .option('--limit <n>', 'at most this many runs, and changes per run (default 100)')
    .option('--run <id>', 'one run')
    .action(async (opts: { limit?: string; run?: string }) => {
      printJsonLines(await (await app()).repairLines(commandContext(program), opts));
    });
}
