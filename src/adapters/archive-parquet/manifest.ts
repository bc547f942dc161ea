/**
 * The archive's manifest: `manifest.ndjson` in the archive root, one JSON line per archived
 * range, appended and fdatasynced after the range's files are durable under their final
 * names. It is the archive's only truth: readers take file lists from it, never from a
 * directory listing, so a file a crash left without its manifest line is invisible (and is
 * removed on the next open). A torn last line (a crash mid-append) is cut off on open.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { TallyError } from '../../core/errors.js';
import type { ArchivedRange } from '../../ports/raw-archive.js';

interface ManifestLine {
  v: 1;
  partition: number;
  from: number;
  to: number;
  records: number;
  min_time: number | null;
  max_time: number | null;
  archived_at: number;
  files: Array<{ path: string; date: string; hour: number; rows: number; bytes: number }>;
}

function toLine(r: ArchivedRange): string {
  const line: ManifestLine = {
    v: 1,
    partition: r.partition,
    from: r.fromOffset,
    to: r.toOffset,
    records: r.records,
    min_time: Number.isFinite(r.minTime) ? r.minTime : null,
    max_time: Number.isFinite(r.maxTime) ? r.maxTime : null,
    archived_at: r.archivedAt,
    files: r.files.map((f) => ({ ...f })),
  };
  return `${JSON.stringify(line)}\n`;
}

function fromLine(text: string): ArchivedRange | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const m = v as Partial<ManifestLine> | null;
  if (m === null || typeof m !== 'object' || m.v !== 1 || !Array.isArray(m.files)) return undefined;
  if (![m.partition, m.from, m.to, m.records].every((n) => Number.isSafeInteger(n))) {
    return undefined;
  }
  return {
    partition: m.partition!,
    fromOffset: m.from!,
    toOffset: m.to!,
    records: m.records!,
    minTime: m.min_time ?? NaN,
    maxTime: m.max_time ?? NaN,
    archivedAt: m.archived_at ?? 0,
    files: m.files.map((f) => ({ ...f })),
  };
}

export class Manifest {
  private constructor(
    readonly path: string,
    private fh: FileHandle,
    private size: number,
    readonly entries: ArchivedRange[],
    private readonly durable: boolean,
  ) {}

  /** Opens (or creates) the manifest; cuts a torn last line; `report` hears what was cut. */
  static async open(
    path: string,
    durable: boolean,
    report: (bytes: number) => void,
  ): Promise<Manifest> {
    const fh = await open(path, 'a+');
    try {
      const text = (await fh.readFile()).toString('utf8');
      const entries: ArchivedRange[] = [];
      let good = 0;
      let at = 0;
      while (at < text.length) {
        const nl = text.indexOf('\n', at);
        if (nl < 0) break;
        const entry = fromLine(text.slice(at, nl));
        if (entry === undefined) {
          // a bad line followed by good ones is not a torn append: refuse to guess
          if (text.indexOf('\n', nl + 1) >= 0) {
            throw new TallyError(
              'TALLY_ARCHIVE_FAILURE',
              `archive manifest ${path} has an unreadable line at byte ${Buffer.byteLength(text.slice(0, at))}`,
              { details: { path } },
            );
          }
          break;
        }
        entries.push(entry);
        at = nl + 1;
        good = Buffer.byteLength(text.slice(0, at));
      }
      const total = (await fh.stat()).size;
      if (good < total) {
        await fh.truncate(good);
        if (durable) await fh.sync();
        report(total - good);
      }
      return new Manifest(path, fh, good, entries, durable);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Appends one range, durably: once this resolves the range is archived. */
  async append(r: ArchivedRange): Promise<void> {
    const line = Buffer.from(toLine(r));
    await this.fh.write(line, 0, line.byteLength, this.size);
    if (this.durable) await this.fh.datasync();
    this.size += line.byteLength;
    this.entries.push(r);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
