import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TallyError } from '../../core/errors.js';
import { writeFileAtomic } from './fs-durable.js';

export const META_FILE = 'meta.json';
const FORMAT = 'tally-embedded-log';
const VERSION = 1;

/** What a log directory was created with; fixed for its lifetime. */
export interface LogMeta {
  format: typeof FORMAT;
  version: typeof VERSION;
  partitions: number;
  createdAt: string;
}

export const DEFAULT_PARTITIONS = 8;

/**
 * Reads the directory's meta file, or writes it when the directory is new. It is written before
 * any partition directory, so a directory with partitions but no meta is not one of ours.
 */
export async function loadOrCreateMeta(
  dir: string,
  requestedPartitions: number | undefined,
  now: Date,
): Promise<LogMeta> {
  const path = join(dir, META_FILE);
  await rm(`${path}.tmp`, { force: true });
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text === undefined) {
    const strays = (await readdir(dir)).filter((n) => n.startsWith('p-'));
    if (strays.length > 0) {
      throw new TallyError(
        'TALLY_DATA_DIR_MISMATCH',
        `${dir} holds partition directories but no ${META_FILE}: not an embedded log directory`,
        { field: 'dir', details: { dir, found: strays.slice(0, 5) } },
      );
    }
    const meta: LogMeta = {
      format: FORMAT,
      version: VERSION,
      partitions: requestedPartitions ?? DEFAULT_PARTITIONS,
      createdAt: now.toISOString(),
    };
    await writeFileAtomic(path, `${JSON.stringify(meta, null, 2)}\n`);
    return meta;
  }
  const meta = parseMeta(text);
  if (meta === undefined) {
    throw new TallyError('TALLY_DATA_DIR_MISMATCH', `${path} is not an embedded log meta file`, {
      field: 'dir',
      details: { path },
    });
  }
  if (requestedPartitions !== undefined && requestedPartitions !== meta.partitions) {
    throw new TallyError(
      'TALLY_DATA_DIR_MISMATCH',
      `the log in ${dir} was created with ${meta.partitions} partitions, not ${requestedPartitions}`,
      {
        field: 'partitions',
        details: { recorded: meta.partitions, requested: requestedPartitions },
      },
    );
  }
  return meta;
}

function parseMeta(text: string): LogMeta | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Partial<LogMeta>;
  if (m.format !== FORMAT || m.version !== VERSION) return undefined;
  if (!Number.isInteger(m.partitions) || (m.partitions as number) < 1) return undefined;
  return m as LogMeta;
}
