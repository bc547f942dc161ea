import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ALL_DIMS, type MinuteRow, type RankedAd, type TopRow } from '../../core/aggregate/types.js';
import { TallyError } from '../../core/errors.js';
import type {
  AggregateStore,
  Checkpoint,
  CommitBatch,
  CommittedCycle,
  DimFilter,
  LateRecord,
} from '../../ports/aggregate-store.js';
import { SCHEMA_V1, SCHEMA_VERSION } from './schema.js';

type Db = Database.Database;

const UPSERT_CHUNK = 128;
const MINUTE = 60_000;
/** per-ad ranges are walked minute by minute (one seek each); longer ones scan instead */
const MAX_SEEK_MINUTES = 7 * 24 * 60;
type Stmt = Database.Statement;

export interface SqliteStoreOptions {
  file: string;
  synchronous?: 'FULL' | 'NORMAL';
  /** open without taking part in writes (queries beside a running process) */
  readonly?: boolean;
  logger?: { info(o: object, msg?: string): void } | undefined;
}

/** Watermarks are stored as REAL; −∞ ("none yet") as NULL. */
const wmIn = (w: number): number | null => (w === -Infinity ? null : w);
const wmOut = (w: number | null): number => (w === null ? -Infinity : w);

const offsetsToJson = (m: ReadonlyMap<number, number>): string => JSON.stringify([...m]);
const offsetsFromJson = (s: string | null): Map<number, number> =>
  new Map(s === null ? [] : (JSON.parse(s) as Array<[number, number]>));

function storeError(what: string, cause: unknown): TallyError {
  return new TallyError('TALLY_STORE_FAILURE', `${what}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) {
    throw new TallyError(
      'TALLY_DATA_DIR_MISMATCH',
      `the store has schema version ${version}; this build knows ${SCHEMA_VERSION}: upgrade Tally`,
      { field: 'dataDir' },
    );
  }
  db.transaction(() => {
    db.exec(SCHEMA_V1);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/**
 * The embedded aggregate store. Every commit is ONE transaction holding the rows, the top
 * lists, the late records, the offsets, the cycle and (sometimes) the snapshot: the
 * exactly-once mechanism of the book, without a distributed transaction.
 */
export class SqliteStore implements AggregateStore {
  private readonly db: Db;
  private readonly s: Record<string, Stmt>;
  private readonly dimStatements = new Map<string, Stmt>();

  constructor(opts: SqliteStoreOptions) {
    if (!opts.readonly) mkdirSync(dirname(opts.file), { recursive: true });
    try {
      this.db = new Database(opts.file, { readonly: opts.readonly === true, fileMustExist: opts.readonly === true });
      this.db.pragma('busy_timeout = 5000');
      if (!opts.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
        migrate(this.db);
      }
    } catch (e) {
      if (e instanceof TallyError) throw e;
      throw storeError(`cannot open the store ${opts.file}`, e);
    }
    const db = this.db;
    this.s = {
      upsertRow: db.prepare(
        `INSERT INTO minute_counts (minute, ad_id, dim, count) VALUES (?, ?, ?, ?)
         ON CONFLICT (minute, ad_id, dim) DO UPDATE SET count = excluded.count`,
      ),
      upsertRows: db.prepare(
        `INSERT INTO minute_counts (minute, ad_id, dim, count) VALUES ${new Array(UPSERT_CHUNK).fill('(?, ?, ?, ?)').join(', ')}
         ON CONFLICT (minute, ad_id, dim) DO UPDATE SET count = excluded.count`,
      ),
      upsertTop: db.prepare(
        `INSERT INTO most_clicked_ads (window_minutes, end_minute, ads) VALUES (?, ?, ?)
         ON CONFLICT (window_minutes, end_minute) DO UPDATE SET ads = excluded.ads`,
      ),
      insertLate: db.prepare(
        `INSERT INTO late_events (partition, "offset", ad_id, timestamp, event_id, watermark, raw)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      upsertOffset: db.prepare(
        `INSERT INTO consumer_offsets (consumer, partition, next_offset) VALUES (?, ?, ?)
         ON CONFLICT (consumer, partition) DO UPDATE SET next_offset = excluded.next_offset`,
      ),
      ensureState: db.prepare(`INSERT INTO consumer_state (consumer) VALUES (?) ON CONFLICT DO NOTHING`),
      state: db.prepare(`SELECT * FROM consumer_state WHERE consumer = ?`),
      advanceState: db.prepare(
        `UPDATE consumer_state SET watermark = ?, last_seq = ?, events = events + ?,
           duplicates = duplicates + ?, late = late + ? WHERE consumer = ?`,
      ),
      setSnapshot: db.prepare(
        `UPDATE consumer_state SET snapshot = ?, snapshot_offsets = ? WHERE consumer = ?`,
      ),
      insertCycle: db.prepare(`INSERT INTO cycles (consumer, seq, offsets, watermark) VALUES (?, ?, ?, ?)`),
      pruneCycles: db.prepare(`DELETE FROM cycles WHERE consumer = ? AND seq <= ?`),
      cycles: db.prepare(`SELECT seq, offsets, watermark FROM cycles WHERE consumer = ? ORDER BY seq`),
      offsets: db.prepare(`SELECT partition, next_offset FROM consumer_offsets WHERE consumer = ?`),
      storedTop: db.prepare(`SELECT ads FROM most_clicked_ads WHERE window_minutes = ? AND end_minute = ?`),
      late: db.prepare(
        `SELECT * FROM late_events WHERE (partition, "offset") > (?, ?) ORDER BY partition, "offset" LIMIT ?`,
      ),
      lateCount: db.prepare(`SELECT COUNT(*) AS n FROM late_events`),
    };
  }

  private upsertRows(rows: readonly MinuteRow[]): void {
    // multi-row statements: binding and stepping per row costs more than the b-tree work
    const many = this.s.upsertRows!;
    const args: Array<number | string> = new Array(UPSERT_CHUNK * 4);
    let i = 0;
    for (; i + UPSERT_CHUNK <= rows.length; i += UPSERT_CHUNK) {
      for (let j = 0; j < UPSERT_CHUNK; j++) {
        const r = rows[i + j]!;
        args[4 * j] = r.minute;
        args[4 * j + 1] = r.adId;
        args[4 * j + 2] = r.dim;
        args[4 * j + 3] = r.count;
      }
      many.run(args);
    }
    for (; i < rows.length; i++) {
      const r = rows[i]!;
      this.s.upsertRow!.run(r.minute, r.adId, r.dim, r.count);
    }
  }

  private readonly commitTx = (b: CommitBatch) => {
    const s = this.s;
    this.upsertRows(b.rows);
    for (const t of b.top) {
      s.upsertTop!.run(t.windowMinutes, t.endMinute, JSON.stringify(t.ads.map((a) => [a.adId, a.count])));
    }
    for (const l of b.late) {
      s.insertLate!.run(l.partition, l.offset, l.adId, l.timestamp, l.eventId, wmIn(l.watermark), l.raw);
    }
    for (const [p, o] of b.offsets) s.upsertOffset!.run(b.consumer, p, o);
    s.ensureState!.run(b.consumer);
    const state = s.state!.get(b.consumer) as { last_seq: number };
    const seq = state.last_seq + 1;
    const stats = b.stats ?? { events: 0, duplicates: 0, late: 0 };
    s.advanceState!.run(wmIn(b.watermark), seq, stats.events, stats.duplicates, stats.late, b.consumer);
    if (b.snapshot) {
      // the snapshot reflects every cycle up to this one: they need no replay any more
      s.setSnapshot!.run(Buffer.from(b.snapshot.buffer, b.snapshot.byteOffset, b.snapshot.byteLength), offsetsToJson(b.offsets), b.consumer);
      s.pruneCycles!.run(b.consumer, seq);
    } else {
      s.insertCycle!.run(b.consumer, seq, offsetsToJson(b.offsets), wmIn(b.watermark));
    }
  };

  private readonly commitInTx = (() => {
    let tx: ((b: CommitBatch) => void) | undefined;
    return (b: CommitBatch) => (tx ??= this.db.transaction(this.commitTx))(b);
  })();

  async commit(batch: CommitBatch): Promise<void> {
    try {
      this.commitInTx(batch);
    } catch (e) {
      throw storeError('commit failed (nothing of it was written)', e);
    }
  }

  async loadCheckpoint(consumer: string): Promise<Checkpoint> {
    const st = this.s.state!.get(consumer) as
      | {
          watermark: number | null;
          events: number;
          duplicates: number;
          late: number;
          snapshot_offsets: string | null;
          snapshot: Buffer | null;
        }
      | undefined;
    const cycles: CommittedCycle[] = (
      this.s.cycles!.all(consumer) as Array<{ seq: number; offsets: string; watermark: number | null }>
    ).map((c) => ({ seq: c.seq, offsets: offsetsFromJson(c.offsets), watermark: wmOut(c.watermark) }));
    const offsets = new Map<number, number>(
      (this.s.offsets!.all(consumer) as Array<{ partition: number; next_offset: number }>).map((r) => [
        r.partition,
        r.next_offset,
      ]),
    );
    return {
      snapshotOffsets: offsetsFromJson(st?.snapshot_offsets ?? null),
      snapshot: st?.snapshot ? new Uint8Array(st.snapshot) : undefined,
      cycles,
      offsets,
      watermark: wmOut(st?.watermark ?? null),
      totals: { events: st?.events ?? 0, duplicates: st?.duplicates ?? 0, late: st?.late ?? 0 },
    };
  }

  /** A statement per shape of dim filter (how many keys), prepared once. */
  private dimStatement(kind: string, dims: number, sql: (inList: string) => string): Stmt {
    const key = `${kind}:${dims}`;
    let st = this.dimStatements.get(key);
    if (!st) {
      st = this.db.prepare(sql(new Array(dims).fill('?').join(', ')));
      this.dimStatements.set(key, st);
    }
    return st;
  }

  private dims(filter: DimFilter | undefined): string[] {
    return filter ? filter.dims : [ALL_DIMS];
  }

  /**
   * Rows of one ad over [from, to): the key leads with the minute, so a bounded range is one
   * (minute, ad_id) seek per minute (a recursive CTE lists the minutes); an unbounded or very
   * long range falls back to a scan.
   */
  private adRows(kind: 'count' | 'series', adId: string, from: number, to: number, dims: string[]) {
    const first = Math.ceil(from / MINUTE) * MINUTE;
    const select =
      kind === 'count'
        ? 'SELECT COALESCE(SUM(c.count), 0) AS n'
        : 'SELECT c.minute AS minute, SUM(c.count) AS count';
    const tail = kind === 'count' ? '' : ' GROUP BY c.minute ORDER BY c.minute';
    if (Number.isFinite(first) && Number.isFinite(to) && (to - first) / MINUTE <= MAX_SEEK_MINUTES) {
      const st = this.dimStatement(
        `${kind}:seek`,
        dims.length,
        (inList) =>
          `WITH RECURSIVE mins(m) AS (SELECT ? WHERE ? < ? UNION ALL SELECT m + ${MINUTE} FROM mins WHERE m + ${MINUTE} < ?)
           ${select} FROM mins CROSS JOIN minute_counts AS c
           ON c.minute = mins.m AND c.ad_id = ? AND c.dim IN (${inList})${tail}`,
      );
      return { st, args: [first, first, to, to, adId, ...dims] };
    }
    const st = this.dimStatement(
      `${kind}:scan`,
      dims.length,
      (inList) =>
        `${select} FROM minute_counts AS c
         WHERE c.ad_id = ? AND c.dim IN (${inList}) AND c.minute >= ? AND c.minute < ?${tail}`,
    );
    return { st, args: [adId, ...dims, from, to] };
  }

  async count(adId: string, fromMinute: number, toMinute: number, filter?: DimFilter): Promise<number> {
    const { st, args } = this.adRows('count', adId, fromMinute, toMinute, this.dims(filter));
    return (st.get(...args) as { n: number }).n;
  }

  async timeseries(adId: string, fromMinute: number, toMinute: number, filter?: DimFilter) {
    const { st, args } = this.adRows('series', adId, fromMinute, toMinute, this.dims(filter));
    return st.all(...args) as Array<{ minute: number; count: number }>;
  }

  async top(fromMinute: number, toMinute: number, n: number, filter?: DimFilter): Promise<RankedAd[]> {
    const dims = this.dims(filter);
    // BINARY collation orders ASCII ad ids like JS string comparison: ties by ad_id ascending
    const st = this.dimStatement(
      'top',
      dims.length,
      (inList) =>
        `SELECT ad_id AS adId, SUM(count) AS count FROM minute_counts
         WHERE minute >= ? AND minute < ? AND dim IN (${inList})
         GROUP BY ad_id ORDER BY count DESC, ad_id ASC LIMIT ?`,
    );
    return st.all(fromMinute, toMinute, ...dims, n) as RankedAd[];
  }

  async storedTop(windowMinutes: number, endMinute: number): Promise<TopRow | undefined> {
    const r = this.s.storedTop!.get(windowMinutes, endMinute) as { ads: string } | undefined;
    if (!r) return undefined;
    const ads = (JSON.parse(r.ads) as Array<[string, number]>).map(([adId, count]) => ({ adId, count }));
    return { windowMinutes, endMinute, ads };
  }

  /** Every minute row of one dimension key in [from, to): for reconciliation and tests. */
  async rows(fromMinute: number, toMinute: number, dim: string): Promise<MinuteRow[]> {
    const st = this.dimStatement(
      'rows',
      1,
      () =>
        `SELECT minute, ad_id AS adId, dim, count FROM minute_counts
         WHERE minute >= ? AND minute < ? AND dim = ? ORDER BY minute, ad_id`,
    );
    return st.all(fromMinute, toMinute, dim) as MinuteRow[];
  }

  async late(limit: number, after?: { partition: number; offset: number }): Promise<LateRecord[]> {
    const rows = this.s.late!.all(after?.partition ?? -1, after?.offset ?? -1, limit) as Array<{
      partition: number;
      offset: number;
      ad_id: string;
      timestamp: number;
      event_id: string;
      watermark: number | null;
      raw: string;
    }>;
    return rows.map((r) => ({
      partition: r.partition,
      offset: r.offset,
      adId: r.ad_id,
      timestamp: r.timestamp,
      eventId: r.event_id,
      watermark: wmOut(r.watermark),
      raw: r.raw,
    }));
  }

  async lateCount(): Promise<number> {
    return (this.s.lateCount!.get() as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

export async function openSqliteStore(opts: SqliteStoreOptions): Promise<SqliteStore> {
  return new SqliteStore(opts);
}
