import type { Command } from 'commander';
import { DISTRIBUTED_ROLES, type Config, type DeepPartial } from '../config/index.js';
import { TallyError } from '../core/errors.js';

export interface ModeOptions {
  mode?: string;
  role?: string;
}

/** --mode on a command that writes clicks or serves (start, ingest, watch) */
export function addModeOption(cmd: Command): Command {
  return cmd.option(
    '--mode <mode>',
    'embedded (default: one process on --data-dir) or distributed (Kafka + PostgreSQL: ' +
      'TALLY_KAFKA_BROKERS, TALLY_DATABASE_URL, TALLY_NAMESPACE)',
  );
}

/**
 * The config overrides --mode and --role stand for; bad values are usage errors naming the
 * flag. The roles are a comma-separated list of all|ingest|aggregator|writer|query.
 */
export function modeOverrides(opts: ModeOptions): DeepPartial<Config> {
  const out: DeepPartial<Config> = {};
  if (opts.mode !== undefined) {
    if (opts.mode !== 'embedded' && opts.mode !== 'distributed') {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `--mode: must be embedded or distributed, got "${opts.mode}"`,
        { field: 'mode' },
      );
    }
    out.mode = opts.mode;
  }
  if (opts.role !== undefined) {
    const roles = opts.role.split(',').map((r) => r.trim());
    for (const r of roles) {
      if (!(DISTRIBUTED_ROLES as readonly string[]).includes(r)) {
        throw new TallyError(
          'TALLY_BAD_PARAMETER',
          `--role: "${r}" is not a role; use ${DISTRIBUTED_ROLES.join('|')}, several comma-separated`,
          { field: 'role' },
        );
      }
    }
    if (new Set(roles).size !== roles.length) {
      throw new TallyError('TALLY_BAD_PARAMETER', `--role: "${opts.role}" names a role twice`, {
        field: 'role',
      });
    }
    out.distributed = { roles: roles as (typeof DISTRIBUTED_ROLES)[number][] };
  }
  return out;
}

/** --role only means something in the distributed mode: say so rather than ignore it */
export function checkRoleNeedsDistributed(opts: ModeOptions, mode: string): void {
  if (opts.role !== undefined && mode !== 'distributed') {
    throw new TallyError(
      'TALLY_BAD_PARAMETER',
      '--role: only with --mode distributed (or TALLY_MODE=distributed)',
      { field: 'role' },
    );
  }
}
