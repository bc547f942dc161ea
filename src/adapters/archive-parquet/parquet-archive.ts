/**
 * The cold archive as Parquet files written and read by DuckDB (@duckdb/node-api): RawArchive
 * (the archiver's writes) and RawEvents (exact raw-attribute counts, the reconciliation's
 * replay) over one directory:
 *
 *   <root>/manifest.ndjson                                  what is archived (manifest.ts)
 *   <root>/date=YYYY-MM-DD/hour=HH/p007-<from>-<to>.parquet one range's events of one hour
 *   <root>/.tmp/                                            staging CSVs, DuckDB spill files
 *
 * Writing a range: its records are staged as CSV (csv-stage.ts), loaded into a DuckDB temp
 * table, and COPYed per event hour to `<final>.tmp` (ZSTD, sorted by ad_id then event time so
 * that row-group statistics prune per-ad reads), each fsynced and renamed, the directories
 * fsynced, and only then the manifest line appended and fsynced. On open, `.tmp` files,
 * staging files and Parquet files no manifest line names (a crash between rename and append)
 * are removed: a rerun writes the same names again. So nothing is archived twice, and nothing
 * a manifest line names is ever missing.
 */
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Dimension, RankedAd } from '../../core/aggregate/types.js';
import { RecordWriter, type RecordCursor } from '../../core/event/codec.js';
import { dimensionField, fieldNumber } from '../../core/event/fields.js';
import type { ClickEvent } from '../../core/event/types.js';
import { TallyError, isTallyError } from '../../core/errors.js';
import { MINUTE_MS } from '../../core/window/minute.js';
import type {
  ArchiveFile,
  ArchivedRange,
  OffsetRange,
  RangeReader,
  RawArchive,
  RawEvents,
  RawFilter,
  RawQuery,
  RawTail,
  ReplayMinute,
} from '../../ports/raw-archive.js';
import { CsvStage, type RecordPredicate } from './csv-stage.js';
import { Manifest } from './manifest.js';
import {
  ARCHIVE_COLUMNS,
  TABLE_DDL,
  countedSql,
  eventsSource,
  selectFromCsv,
  timeBetween,
} from './sql.js';

const HOUR_MS = 3_600_000;
const READ_RECORDS = 65_536;

export interface ArchiveLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ParquetArchiveOptions {
  /** the archive root (created if absent) */
  dir: string;
  /** fsync files, directories and the manifest (default true; false for throwaway data) */
  durable?: boolean;
  /** DuckDB's memory limit, MiB: beyond it, sorts and aggregations spill to <root>/.tmp */
  memoryLimitMiB?: number;
  /** DuckDB worker threads (default 2) */
  threads?: number;
  logger?: ArchiveLogger;
}

export interface ParquetArchive extends RawArchive, RawEvents {
  readonly dir: string;
  /** bytes of Parquet files the manifest names */
  bytes(): number;
  close(): Promise<void>;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** `date=YYYY-MM-DD/hour=HH`: the Hive-style directory of an event hour (UTC). */
function hourDir(hourNo: number): { date: string; hour: number; dir: string } {
  const iso = new Date(hourNo * HOUR_MS).toISOString();
  const date = iso.slice(0, 10);
  const hour = Number(iso.slice(11, 13));
  return { date, hour, dir: `date=${date}/hour=${pad(hour, 2)}` };
}

function fileName(r: OffsetRange): string {
  return `p${pad(r.partition, 3)}-${pad(r.fromOffset, 20)}-${pad(r.toOffset, 20)}.parquet`;
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function archiveFailure(what: string, cause: unknown): TallyError {
  if (isTallyError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new TallyError('TALLY_ARCHIVE_FAILURE', `archive: ${what} failed: ${reason}`, { cause });
}

export async function openParquetArchive(opts: ParquetArchiveOptions): Promise<ParquetArchive> {
  const durable = opts.durable !== false;
  const dir = opts.dir;
  const scratch = join(dir, '.tmp');
  await mkdir(dir, { recursive: true });
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const manifest = await Manifest.open(join(dir, 'manifest.ndjson'), durable, (bytes) =>
    opts.logger?.warn({ dir, bytes }, 'archive: torn manifest line cut off on open'),
  );
  try {
    const removed = await removeStrays(dir, manifest.entries);
    if (removed.length > 0) {
      opts.logger?.warn(
        { dir, removed: removed.slice(0, 20), count: removed.length },
        'archive: files of an unfinished archiving step removed (it will be redone)',
      );
    }
    // DuckDB (a large native module: ~0.4 s to load here) is loaded on first use, so that
    // the commands that never archive or read raw events do not pay for it at start
    const instance = async () => {
      const { DuckDBInstance } = await import('@duckdb/node-api');
      return DuckDBInstance.create(':memory:', {
        threads: String(opts.threads ?? 2),
        memory_limit: `${opts.memoryLimitMiB ?? 512}MB`,
        temp_directory: scratch,
      });
    };
    return new ParquetArchiveImpl(dir, scratch, durable, manifest, instance);
  } catch (e) {
    await manifest.close();
    throw archiveFailure('open', e);
  }
}

/** Removes `.tmp` files and Parquet files that no manifest line names. */
async function removeStrays(root: string, entries: readonly ArchivedRange[]): Promise<string[]> {
  const named = new Set(entries.flatMap((e) => e.files.map((f) => f.path)));
  const removed: string[] = [];
  const names = (await readdir(root, { recursive: true })) as string[];
  for (const name of names) {
    const rel = name.split(sep).join('/');
    if (rel.startsWith('.tmp')) continue;
    const strayTmp = rel.endsWith('.tmp');
    const orphan = rel.endsWith('.parquet') && !named.has(rel);
    if (strayTmp || orphan) {
      await rm(join(root, name), { force: true });
      removed.push(rel);
    }
  }
  return removed;
}

class ParquetArchiveImpl implements ParquetArchive {
  private readonly upTo = new Map<number, number>();
  private readonly byKey = new Map<string, ArchivedRange>();
  private seq = 0;
  private closed = false;
  private instance: Promise<DuckDBInstance> | undefined;

  constructor(
    readonly dir: string,
    private readonly scratch: string,
    private readonly durable: boolean,
    private readonly manifest: Manifest,
    private readonly createInstance: () => Promise<DuckDBInstance>,
  ) {
    for (const r of manifest.entries) this.note(r);
  }

  private note(r: ArchivedRange): void {
    this.byKey.set(`${r.partition}/${r.fromOffset}/${r.toOffset}`, r);
    const at = this.upTo.get(r.partition);
    // ranges are archived in order from each partition's first: the prefix ends at the last
    if (at === undefined || r.fromOffset <= at) {
      this.upTo.set(r.partition, Math.max(at ?? 0, r.toOffset));
    }
  }

  archivedUpTo(partition: number): number {
    return this.upTo.get(partition) ?? 0;
  }

  ranges(): readonly ArchivedRange[] {
    return [...this.manifest.entries].sort(
      (a, b) => a.partition - b.partition || a.fromOffset - b.fromOffset,
    );
  }

  bytes(): number {
    let n = 0;
    for (const r of this.manifest.entries) for (const f of r.files) n += f.bytes;
    return n;
  }

  private async connect(): Promise<DuckDBConnection> {
    if (this.closed)
      throw new TallyError('TALLY_UNAVAILABLE', `the archive in ${this.dir} is closed`);
    this.instance ??= this.createInstance();
    const conn = await (await this.instance).connect();
    await conn.run("SET TimeZone = 'UTC'");
    return conn;
  }

  private scratchFile(what: string): string {
    return join(this.scratch, `${process.pid}-${++this.seq}-${what}.csv`);
  }

  async archive(range: OffsetRange, read: RangeReader): Promise<ArchivedRange> {
    const known = this.byKey.get(`${range.partition}/${range.fromOffset}/${range.toOffset}`);
    if (known !== undefined) return known;
    const at = this.archivedUpTo(range.partition);
    if (at !== 0 && range.fromOffset !== at) {
      throw new TallyError(
        'TALLY_ARCHIVE_FAILURE',
        `archive: partition ${range.partition} is archived up to ${at}; cannot archive [${range.fromOffset}, ${range.toOffset})`,
        { details: { ...range, archivedUpTo: at } },
      );
    }
    const csv = this.scratchFile(`p${range.partition}-${range.fromOffset}`);
    const stage = await CsvStage.create(csv);
    let conn: DuckDBConnection | undefined;
    try {
      for (let from = range.fromOffset; from < range.toOffset;) {
        const r = await read(from, Math.min(READ_RECORDS, range.toOffset - from));
        // advance by nextOffset (a Kafka read may skip transaction markers with no records)
        if (r.nextOffset <= from) {
          throw new TallyError(
            'TALLY_ARCHIVE_FAILURE',
            `archive: partition ${range.partition} ends at ${from}, inside the range [${range.fromOffset}, ${range.toOffset})`,
          );
        }
        await stage.add(range.partition, r.data, r.fromOffset);
        from = r.nextOffset;
      }
      await stage.close();
      conn = await this.connect();
      const files = stage.rows === 0 ? [] : await this.writeHours(conn, csv, range);
      const archived: ArchivedRange = {
        ...range,
        records: stage.rows,
        files,
        minTime: stage.rows === 0 ? NaN : stage.minTime,
        maxTime: stage.rows === 0 ? NaN : stage.maxTime,
        archivedAt: Date.now(),
      };
      await this.manifest.append(archived);
      this.note(archived);
      return archived;
    } catch (e) {
      throw archiveFailure(
        `partition ${range.partition} [${range.fromOffset}, ${range.toOffset})`,
        e,
      );
    } finally {
      await stage.close().catch(() => undefined);
      conn?.closeSync();
      await rm(csv, { force: true });
    }
  }

  /** One file per event hour of the staged range: written, fsynced, renamed; dirs fsynced. */
  private async writeHours(
    conn: DuckDBConnection,
    csv: string,
    range: OffsetRange,
  ): Promise<ArchiveFile[]> {
    const table = `stage_${this.seq}`;
    await conn.run(`CREATE TEMP TABLE ${table} AS ${selectFromCsv(csv)}`);
    try {
      const hours = (
        await conn.runAndReadAll(
          `SELECT (epoch_ms(event_time) // ${HOUR_MS})::DOUBLE AS h, count(*)::DOUBLE AS n
           FROM ${table} GROUP BY h ORDER BY h`,
        )
      ).getRowObjectsJS() as Array<{ h: number; n: number }>;
      const files: ArchiveFile[] = [];
      const dirs = new Set<string>();
      for (const { h, n } of hours) {
        const where = hourDir(h);
        const rel = `${where.dir}/${fileName(range)}`;
        const final = join(this.dir, rel);
        const tmp = `${final}.tmp`;
        const created = await mkdir(dirname(final), { recursive: true });
        if (created !== undefined) {
          dirs.add(dirname(dirname(final)));
          dirs.add(this.dir);
        }
        await conn.run(
          `COPY (SELECT ${ARCHIVE_COLUMNS} FROM ${table}
                 WHERE epoch_ms(event_time) // ${HOUR_MS} = ${h}
                 ORDER BY ad_id, event_time, log_offset)
           TO ${`'${tmp.replaceAll("'", "''")}'`} (FORMAT parquet, COMPRESSION zstd)`,
        );
        if (this.durable) await fsyncPath(tmp);
        await rename(tmp, final);
        dirs.add(dirname(final));
        files.push({
          path: rel,
          date: where.date,
          hour: where.hour,
          rows: n,
          bytes: (await stat(final)).size,
        });
      }
      if (this.durable) for (const d of dirs) await fsyncPath(d);
      return files;
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${table}`);
    }
  }

  /** The files holding events of [fromTime, toTime), by their event hour. */
  private filesBetween(fromTime: number, toTime: number): string[] {
    const lo = Math.floor(fromTime / HOUR_MS);
    const hi = Math.ceil(toTime / HOUR_MS);
    const out: string[] = [];
    for (const r of this.manifest.entries) {
      if (r.files.length === 0 || r.maxTime < fromTime || r.minTime >= toTime) continue;
      for (const f of r.files) {
        const h = Math.floor(Date.parse(`${f.date}T${pad(f.hour, 2)}:00:00Z`) / HOUR_MS);
        if (h >= lo && h < hi) out.push(join(this.dir, f.path));
      }
    }
    return out;
  }

  /**
   * Runs `fn` over the archive files of [fromTime, toTime) plus the tail records `keep`
   * accepts, staged in a temp table.
   */
  private async withEvents<T>(
    fromTime: number,
    toTime: number,
    tail: RawTail,
    keep: RecordPredicate,
    fn: (conn: DuckDBConnection, source: string) => Promise<T>,
  ): Promise<T> {
    const csv = this.scratchFile('tail');
    const stage = await CsvStage.create(csv);
    const table = `tail_${this.seq}`;
    let conn: DuckDBConnection | undefined;
    try {
      for (const r of tail.ranges) {
        for (let from = r.fromOffset; from < r.toOffset;) {
          const got = await tail.read(r.partition, from, Math.min(READ_RECORDS, r.toOffset - from));
          if (got.nextOffset <= from) break;
          await stage.add(r.partition, got.data, got.fromOffset, keep);
          from = got.nextOffset;
        }
      }
      await stage.close();
      conn = await this.connect();
      await conn.run(`CREATE TEMP TABLE ${table} ${TABLE_DDL}`);
      if (stage.rows > 0) await conn.run(`INSERT INTO ${table} ${selectFromCsv(csv)}`);
      return await fn(conn, eventsSource(this.filesBetween(fromTime, toTime), table));
    } catch (e) {
      throw archiveFailure('raw query', e);
    } finally {
      await stage.close().catch(() => undefined);
      if (conn !== undefined) {
        await conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
        conn.closeSync();
      }
      await rm(csv, { force: true });
    }
  }

  private async counted<T>(
    q: RawQuery,
    tail: RawTail,
    select: string,
    params: string[],
    read: (rows: Record<string, unknown>[]) => T,
  ): Promise<T> {
    const lo = q.fromMinute - q.historyMs;
    const keep = tailPredicate(lo, q.toMinute, q.adId, q.filter);
    return this.withEvents(lo, q.toMinute, tail, keep, async (conn, source) => {
      const f = filterSql(q.filter);
      const where = [
        timeBetween(lo, q.toMinute),
        ...(q.adId === undefined ? [] : ['ad_id = ?']),
        ...f.sql,
      ];
      const values = [...(q.adId === undefined ? [] : [q.adId]), ...f.values, ...params];
      const sql = `${countedSql(source, where.join(' AND '), q.dedupHorizonMs)}
        ${select.replace('@range', `t >= ${q.fromMinute} AND t < ${q.toMinute}`)}`;
      const reader = await conn.runAndReadAll(sql, values);
      return read(reader.getRowObjectsJS() as Record<string, unknown>[]);
    });
  }

  count(q: RawQuery, tail: RawTail): Promise<number> {
    return this.counted(
      q,
      tail,
      'SELECT count(*)::DOUBLE AS n FROM counted WHERE @range',
      [],
      (rows) => Number(rows[0]?.n ?? 0),
    );
  }

  timeseries(q: RawQuery, tail: RawTail): Promise<Array<{ minute: number; count: number }>> {
    return this.counted(
      q,
      tail,
      `SELECT ((t // ${MINUTE_MS}) * ${MINUTE_MS})::DOUBLE AS minute, count(*)::DOUBLE AS n
       FROM counted WHERE @range GROUP BY 1 ORDER BY 1`,
      [],
      (rows) => rows.map((r) => ({ minute: Number(r.minute), count: Number(r.n) })),
    );
  }

  top(q: RawQuery, n: number, tail: RawTail): Promise<RankedAd[]> {
    const limit = Math.max(0, Math.floor(n));
    return this.counted(
      q,
      tail,
      `SELECT ad_id, count(*)::DOUBLE AS n FROM counted WHERE @range
       GROUP BY ad_id ORDER BY n DESC, ad_id ASC LIMIT ${limit}`,
      [],
      (rows) => rows.map((r) => ({ adId: String(r.ad_id), count: Number(r.n) })),
    );
  }

  async replay(
    fromTime: number,
    toTime: number,
    tail: RawTail,
    dimensions: readonly Dimension[],
    onMinute: (m: ReplayMinute) => Promise<void> | void,
  ): Promise<number> {
    const keep: RecordPredicate = (c) => c.timestamp >= fromTime && c.timestamp < toTime;
    return this.withEvents(fromTime, toTime, tail, keep, async (conn, source) => {
      const dims = dimensions.map((d) => dimensionField(d));
      const cols = dims.map((f) => `, ${f.name}`).join('');
      const result = await conn.stream(
        `SELECT log_partition AS p, epoch_ms(event_time)::DOUBLE AS t, ad_id, event_id, dedup_key${cols}
         FROM ${source} WHERE ${timeBetween(fromTime, toTime)}
         ORDER BY event_time, log_partition, log_offset`,
      );
      const writers = new Map<number, RecordWriter>();
      const writerOf = (p: number) => {
        let w = writers.get(p);
        if (w === undefined) writers.set(p, (w = new RecordWriter(1 << 20)));
        return w;
      };
      const flush = async (minute: number) => {
        const batches: ReplayMinute['batches'] = [];
        for (const [partition, w] of [...writers].sort((a, b) => a[0] - b[0])) {
          if (w.count > 0) batches.push({ partition, data: w.bytes(), count: w.count });
        }
        if (batches.length > 0) await onMinute({ minute, batches });
        for (const w of writers.values()) w.reset();
      };
      const ev: ClickEvent = {
        adId: '',
        timestamp: 0,
        eventId: '',
        eventIdGiven: false,
        userId: undefined,
        ip: undefined,
        country: undefined,
        extra: undefined,
      };
      const dimKeys = dims.map((f) => f.key as 'userId' | 'ip' | 'country');
      let current = NaN;
      let total = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        const n = chunk.rowCount;
        const pv = chunk.getColumnVector(0);
        const tv = chunk.getColumnVector(1);
        const av = chunk.getColumnVector(2);
        const iv = chunk.getColumnVector(3);
        const kv = chunk.getColumnVector(4) as unknown as {
          getItemBytes(i: number): Uint8Array | null;
        };
        const dv = dims.map((_, j) => chunk.getColumnVector(5 + j));
        for (let i = 0; i < n; i++) {
          const t = tv.getItem(i) as number;
          const minute = Math.floor(t / MINUTE_MS) * MINUTE_MS;
          if (minute !== current) {
            if (!Number.isNaN(current)) await flush(current);
            current = minute;
          }
          ev.adId = av.getItem(i) as string;
          ev.timestamp = t;
          const id = iv.getItem(i) as string | null;
          ev.eventIdGiven = id !== null;
          ev.eventId = id ?? '';
          for (let j = 0; j < dimKeys.length; j++) {
            ev[dimKeys[j]!] = (dv[j]!.getItem(i) as string | null) ?? undefined;
          }
          const key = kv.getItemBytes(i)!;
          const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
          writerOf(pv.getItem(i) as number).writeKeyed(
            ev,
            view.getUint32(0, true),
            view.getUint32(4, true),
            view.getUint32(8, true),
            view.getUint32(12, true),
          );
          total++;
        }
      }
      if (!Number.isNaN(current)) await flush(current);
      return total;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.instance !== undefined) (await this.instance.catch(() => undefined))?.closeSync();
    await this.manifest.close();
    await rm(this.scratch, { recursive: true, force: true });
  }
}

/** The tail records a raw query considers: in its time range, of its ad, matching its filter. */
function tailPredicate(
  fromTime: number,
  toTime: number,
  adId: string | undefined,
  filter: RawFilter,
): RecordPredicate {
  const ad = adId === undefined ? undefined : new TextEncoder().encode(adId);
  const terms = [...filter].map(([attr, values]) => ({
    field: fieldNumber(attr),
    values: new Set(values),
  }));
  return (c: RecordCursor) => {
    if (c.timestamp < fromTime || c.timestamp >= toTime) return false;
    if (ad !== undefined && !sameBytes(c.buf, c.adIdStart, c.adIdEnd, ad)) return false;
    for (const t of terms) {
      const v = c.field(t.field);
      if (v === undefined || !t.values.has(v)) return false;
    }
    return true;
  };
}

function filterSql(filter: RawFilter): { sql: string[]; values: string[] } {
  const sql: string[] = [];
  const values: string[] = [];
  for (const [attr, vals] of filter) {
    // the column is the field's name (user_id, ip, country): never user input
    const col = dimensionField(attr).name;
    sql.push(`${col} IN (${vals.map(() => '?').join(', ')})`);
    values.push(...vals);
  }
  return { sql, values };
}

function sameBytes(buf: Uint8Array, start: number, end: number, want: Uint8Array): boolean {
  if (end - start !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (buf[start + i] !== want[i]) return false;
  return true;
}
