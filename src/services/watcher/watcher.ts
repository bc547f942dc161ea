/**
 * `tally watch`: follows NDJSON click logs as they grow and rotate (the book's log watcher)
 * and sends their lines downstream through a LineSink, in batches, at least once; dedup
 * downstream (event_id, or the content hash) makes that exactly once in the counts.
 *
 * The loop: scan (expand the patterns, stat every name, fstat every followed file) → pump
 * (read whole lines from the files with unread bytes and send them, several sends in flight,
 * until nothing is left or a second has passed) → checkpoint (the durable positions, written
 * atomically) → sleep for the poll interval unless there was work (fs.watch wakes it sooner).
 * Stat polling is the source of truth; fs.watch only shortens the wait.
 *
 * Guarantees, and why they hold:
 * - a line is sent only whole (up to its LF); a last line without one waits for it, and is
 *   sent as it is only once its file has been rotated away and stayed idle `rotatedIdleMs`;
 * - positions are kept per file identity (dev + inode, and a fingerprint of the first bytes
 *   for inode reuse across restarts), so a renamed file is followed under its new name and
 *   finished to its end through the open handle before it is forgotten;
 * - a file truncated in place (copy-truncate) goes on in its copy from the position read (the
 *   copy: same directory, same fingerprinted first bytes, at least that long), and a copy
 *   under a watched name is known as one (first and last bytes) and never read from byte 0;
 * - the checkpoint records only positions whose lines (and dead letters) the sink has made
 *   durable, so after a crash reading resumes at or before the first line not yet durable:
 *   nothing is skipped, and what is sent again is absorbed by dedup.
 */
import { readdir, open, stat, type FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { dirname, join } from 'node:path';
import { isTallyError } from '../../core/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import {
  START,
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointEntry,
  type CheckpointStore,
  type Position,
} from './checkpoint.js';
import { FollowedFile, positionAtEnd } from './followed-file.js';
import {
  FINGERPRINT_BYTES,
  fingerprintOf,
  headMatches,
  headOf,
  identityKey,
  readFully,
  sameBytesAt,
  type Fingerprint,
} from './identity.js';
import type { LineSink } from './line-sink.js';
import { DirWakeups, expandPatterns, parsePattern, type Pattern } from './patterns.js';

export interface WatcherOptions {
  /** paths or globs, as given on the command line */
  patterns: readonly string[];
  /** where relative patterns start */
  cwd: string;
  sink: LineSink;
  checkpoint: CheckpointStore;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics | undefined;
  pollIntervalMs: number;
  /** the read size, and the longest line read (LF included); a longer one is dead-lettered */
  maxLineBytes: number;
  /** bytes sent but not yet durable before reading waits */
  maxInflightBytes: number;
  rotatedIdleMs: number;
  /** a status log line this often (0: never) */
  statusIntervalMs: number;
  /** stop once every file has been read up to its last whole line (no waiting for more) */
  once?: boolean;
}

export interface WatchedFileStatus {
  path: string;
  /** "dev:inode" */
  identity: string;
  rotated: boolean;
  /** deleted while followed: finished through the open handle; `path` is its last name */
  deleted: boolean;
  /** a copy of this followed file (copy-truncate), not read: its lines are that file's */
  copyOf: string | null;
  size: number;
  /** bytes durable downstream */
  offset: number;
  /** lines durable downstream */
  lines: number;
  bytesBehind: number;
}

export interface WatchStatus {
  patterns: readonly string[];
  filesFollowed: number;
  bytesBehind: number;
  /** bytes behind / mean line length so far (an estimate: unread lines are not counted) */
  linesBehind: number;
  linesSent: number;
  accepted: number;
  rejected: number;
  lastSendAt: string | null;
  checkpointAt: string | null;
  lastError: string | null;
  files: WatchedFileStatus[];
}

/** how long one pump may run before the names are scanned again */
const PUMP_MS = 1_000;
/** the first bytes of a too-long line kept as its dead letter's payload */
const PREVIEW_BYTES = 1_024;
/** the mean line length assumed before any line was sent (a click is ~100–200 bytes) */
const ASSUMED_LINE_BYTES = 150;
const MAX_BACKOFF_MS = 30_000;
/** the last bytes of a candidate copy compared with its original at the same offset */
const COPY_CHECK_BYTES = 4_096;
const TRANSIENT_ERRNO = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE']);

const previewDecoder = new TextDecoder('utf-8');

/** a file opened, not followed yet */
interface Opened {
  fh: FileHandle;
  key: string;
  size: number;
}

export class LogWatcher {
  private readonly patterns: Pattern[];
  private readonly files = new Map<string, FollowedFile>();
  /** checkpoint entries of files not followed now (not found yet, or not watched this run) */
  private readonly saved = new Map<string, CheckpointEntry>();
  /** the files under a watched name at the last scan: identity → name */
  private named = new Map<string, string>();
  private readonly buf: Uint8Array;
  private readonly wakeups: DirWakeups;
  private readonly inflight = new Set<Promise<void>>();
  private inflightBytes = 0;
  private sendError: unknown;
  private turn = 0;
  private dirty = false;
  private stopping = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly totals = { lines: 0, bytes: 0, accepted: 0, rejected: 0 };
  private lastSendAt: number | undefined;
  private checkpointAt: number | undefined;
  private lastError: string | undefined;

  constructor(private readonly o: WatcherOptions) {
    this.patterns = o.patterns.map((p) => parsePattern(p, o.cwd));
    this.buf = new Uint8Array(o.maxLineBytes);
    this.wakeups = new DirWakeups(() => this.wake?.());
  }

  /** Loads the checkpoint and starts following; `done()` settles when the watcher stops. */
  async start(): Promise<void> {
    const text = await this.o.checkpoint.load();
    if (text !== undefined) {
      for (const e of decodeCheckpoint(text, this.o.checkpoint.where)) {
        this.saved.set(`${e.dev}:${e.ino}`, e);
      }
    }
    if (this.o.statusIntervalMs > 0) {
      this.statusTimer = setInterval(() => {
        const { files: _files, ...summary } = this.status();
        this.o.logger.info(summary, 'watch status');
      }, this.o.statusIntervalMs);
      this.statusTimer.unref();
    }
    this.running = this.loop();
  }

  /** Settles when the watcher has stopped: resolved after stop() or a --once catch-up. */
  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Finishes the sends in flight, writes the checkpoint, closes the files. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running?.catch(() => undefined);
  }

  status(): WatchStatus {
    const files: WatchedFileStatus[] = [];
    let behind = 0;
    for (const f of this.files.values()) {
      const b = behindOf(f);
      behind += b;
      files.push({
        path: f.path,
        identity: f.key,
        rotated: f.rotated,
        deleted: f.deleted,
        copyOf: f.copyOf === undefined ? null : (this.files.get(f.copyOf)?.path ?? f.copyOf),
        size: f.size,
        offset: f.durable.offset,
        lines: f.durable.line,
        bytesBehind: b,
      });
    }
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    return {
      patterns: this.o.patterns,
      filesFollowed: this.files.size,
      bytesBehind: behind,
      linesBehind: Math.ceil(behind / this.meanLineBytes()),
      linesSent: this.totals.lines,
      accepted: this.totals.accepted,
      rejected: this.totals.rejected,
      lastSendAt: iso(this.lastSendAt),
      checkpointAt: iso(this.checkpointAt),
      lastError: this.lastError ?? null,
      files,
    };
  }

  private meanLineBytes(): number {
    return this.totals.lines > 0 ? this.totals.bytes / this.totals.lines : ASSUMED_LINE_BYTES;
  }

  private async loop(): Promise<void> {
    let first = true;
    let backoff = 0;
    try {
      while (!this.stopping) {
        try {
          await this.scan(first);
          first = false;
          const worked = await this.pump();
          await this.writeCheckpoint();
          backoff = 0;
          this.lastError = undefined;
          if (!worked) {
            if (this.o.once) break;
            await this.sleep(this.o.pollIntervalMs);
          }
        } catch (e) {
          if (!isTransient(e)) throw e;
          backoff = Math.min(MAX_BACKOFF_MS, Math.max(500, backoff * 2));
          this.lastError = e instanceof Error ? e.message : String(e);
          this.o.logger.error({ err: e, retryInMs: backoff }, 'watch: sending failed; retrying');
          await this.sleep(backoff);
        }
      }
    } finally {
      await Promise.all(this.inflight);
      // the durable positions are right whatever failed: keep them
      await this.writeCheckpoint().catch((e: unknown) =>
        this.o.logger.error({ err: e }, 'watch: the final checkpoint could not be written'),
      );
      if (this.statusTimer) clearInterval(this.statusTimer);
      this.wakeups.close();
      for (const f of this.files.values()) await f.fh.close().catch(() => undefined);
      this.files.clear();
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  // ---- scan: names → identities; rotation, truncation, finishing -------------------------

  private async scan(first: boolean): Promise<void> {
    const now = this.o.clock.now();
    // every file under a watched name now, by identity
    const named = new Map<string, string>();
    for (const path of await expandPatterns(this.patterns)) {
      let st: BigIntStats;
      try {
        st = await stat(path, { bigint: true });
      } catch {
        continue; // not there (yet), or gone between the listing and the stat
      }
      if (!st.isFile()) continue;
      const key = identityKey(st);
      if (!named.has(key)) named.set(key, path); // else a hard link, or two patterns naming one file
    }
    this.named = named;
    for (const [key, path] of named) {
      const f = this.files.get(key);
      if (f === undefined) continue;
      if (f.path !== path) {
        this.o.logger.info({ from: f.path, to: path }, 'watch: file renamed; still following it');
        f.path = path;
        this.dirty = true;
      }
      if (f.rotated) {
        f.rotated = false; // back under a watched name
        f.deleted = false;
        f.flushTail = false;
      }
    }
    // files of the checkpoint first: the copy of one truncated while the watcher was stopped
    // is then known as its continuation before it could be taken for a new file
    for (const [key, path] of named) {
      if (!this.files.has(key) && this.saved.has(key)) await this.follow(path, now);
    }
    if (first) await this.resumeRotatedWhileStopped();
    // truncation first too: a copy that appeared with it continues the file
    for (const f of [...this.files.values()]) await this.refresh(f, named.has(f.key), now);
    for (const [key, path] of named) if (!this.files.has(key)) await this.follow(path, now);
    const dirs = new Set(this.patterns.map((p) => p.base));
    for (const f of this.files.values()) dirs.add(dirname(f.path));
    this.wakeups.update(dirs);
    this.updateGauges();
  }

  /** Opens a file that is not followed yet; undefined when it is gone or not a regular file. */
  private async openNew(path: string): Promise<Opened | undefined> {
    let fh;
    try {
      fh = await open(path, 'r');
    } catch {
      return undefined;
    }
    try {
      // the identity of what was opened: the name may have moved on since the stat
      const st = await fh.stat({ bigint: true });
      const key = identityKey(st);
      if (!st.isFile() || this.files.has(key)) {
        await fh.close();
        return undefined;
      }
      return { fh, key, size: Number(st.size) };
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  private async adopt(o: Opened, path: string, from: Position, now: number) {
    try {
      const fp = await fingerprintOf(o.fh, o.size);
      const f = new FollowedFile(o.fh, o.key, path, fp, from, o.size, now);
      this.files.set(o.key, f);
      this.dirty = true;
      return f;
    } catch (e) {
      await o.fh.close().catch(() => undefined);
      throw e;
    }
  }

  /** Opens a file found under a watched name; resumes it from the checkpoint if it is known. */
  private async follow(path: string, now: number): Promise<FollowedFile | undefined> {
    const o = await this.openNew(path);
    if (o === undefined) return undefined;
    let from: Position = START;
    let copyOf: FollowedFile | undefined;
    try {
      const saved = this.saved.get(o.key);
      if (saved !== undefined) {
        this.saved.delete(o.key);
        this.dirty = true;
        const same = await headMatches(o.fh, saved.fingerprint);
        if (same && o.size >= saved.position.offset) from = saved.position;
        else {
          this.o.logger.info(
            { path, was: saved.path, size: o.size, offset: saved.position.offset },
            same
              ? 'watch: file truncated while the watcher was stopped; reading it from its start'
              : 'watch: the file at a followed inode has other first bytes (truncated, or another file); reading it from its start',
          );
          // truncated in place (copy-truncate): the lines after the position are in the copy
          await this.continueInCopy(o.key, saved.path, saved.fingerprint, saved.position, now);
        }
      } else copyOf = await this.copyOfFollowed(o);
    } catch (e) {
      await o.fh.close().catch(() => undefined);
      throw e;
    }
    const f = await this.adopt(o, path, from, now);
    if (copyOf !== undefined) {
      f.copyOf = copyOf.key;
      this.o.logger.info(
        { path, of: copyOf.path },
        'watch: a copy of a followed file (copy-truncate); not read unless that file is truncated',
      );
    } else {
      this.o.logger.info({ path, offset: from.offset, line: from.line + 1 }, 'watch: following');
    }
    return f;
  }

  /**
   * The followed file that the new file `o` is a copy of, if any: it begins with that file's
   * fingerprinted bytes and its last bytes are that file's at the same offset (a copy being
   * made is a copy too), or that file has just been truncated. A file that later turns out to
   * be no copy (it grows past the original, or its bytes differ) is read from its start.
   */
  private async copyOfFollowed(o: Opened): Promise<FollowedFile | undefined> {
    if (o.size === 0) return undefined;
    const begins = await headOf(o.fh, o.size);
    for (const x of this.files.values()) {
      if (x.copyOf !== undefined || x.fingerprint.length === 0 || !begins(x.fingerprint)) continue;
      if (await this.isCopyOf(o.fh, o.size, x)) return x;
    }
    return undefined;
  }

  /**
   * Whether `size` bytes of `fh` are a copy of the start of `x`; also true while `x` no
   * longer begins with its fingerprinted bytes (truncated: its refresh decides).
   */
  private async isCopyOf(fh: FileHandle, size: number, x: FollowedFile): Promise<boolean> {
    const xSize = Number((await x.fh.stat()).size);
    const tail = Math.min(size, COPY_CHECK_BYTES);
    if (xSize >= size && (await sameBytesAt(fh, x.fh, size - tail, tail))) return true;
    // not a prefix of `x` as it is now: because `x` was truncated (checked last, so that a
    // truncation in the middle of the comparison is seen), or because it is no copy of it
    return !(await headMatches(x.fh, x.fingerprint));
  }

  /**
   * `key` (last named `path`) was truncated in place at durable position `pos`: copy-truncate.
   * The copy is in the same directory, begins with the fingerprinted bytes and is at least
   * `pos.offset` long: reading goes on there from `pos` (the lines written after the last
   * read and before the copy are only there), whether or not a watched name matches it. Any
   * other copy (shorter, or a second one) is a prefix of what was read: it is not read again.
   */
  private async continueInCopy(
    key: string,
    path: string,
    fp: Fingerprint,
    pos: Position,
    now: number,
  ): Promise<void> {
    if (fp.length === 0) return; // nothing was there to recognise a copy by
    const found: Array<{ path: string; size: number; f?: FollowedFile; o?: Opened }> = [];
    for (const f of this.files.values()) {
      if (f.copyOf === key) found.push({ path: f.path, size: Number((await f.fh.stat()).size), f });
    }
    const dir = dirname(path);
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      // the directory is gone: so is any copy
    }
    for (const name of names) {
      const p = join(dir, name);
      let st: BigIntStats;
      try {
        st = await stat(p, { bigint: true });
      } catch {
        continue;
      }
      const k = identityKey(st);
      if (!st.isFile() || k === key || this.files.has(k) || this.saved.has(k)) continue;
      if (Number(st.size) < fp.length) continue;
      const o = await this.openNew(p);
      if (o === undefined) continue;
      if (await headMatches(o.fh, fp)) found.push({ path: p, size: o.size, o });
      else await o.fh.close();
    }
    found.sort((a, b) => b.size - a.size);
    const [best] = found;
    for (const c of found) {
      const isBest = c === best && c.size >= pos.offset;
      const f =
        c.f ??
        (isBest || this.named.has(c.o!.key)
          ? await this.adopt(c.o!, c.path, START, now)
          : undefined);
      if (f === undefined) {
        await c.o!.fh.close();
        continue;
      }
      if (isBest) {
        f.resumeAt(pos);
        f.rotated = !this.named.has(f.key);
        this.o.logger.info(
          { path: f.path, of: path, offset: pos.offset, line: pos.line + 1 },
          'watch: truncated in place (copy-truncate); reading the rest from its copy',
        );
      } else {
        // a prefix of what was read: followed at its end, so that it is not read from 0
        f.resumeAt(await positionAtEnd(f.fh, Number((await f.fh.stat()).size), this.buf));
      }
      this.dirty = true;
    }
  }

  /**
   * Files of the checkpoint not found under a watched name at the first scan. One renamed
   * away (rotated while the watcher was stopped, or before it stopped and not finished) is
   * found by its inode in its directory and finished; one still under its own name is simply
   * not watched this run and is kept for a later one; one that is gone is forgotten.
   */
  private async resumeRotatedWhileStopped(): Promise<void> {
    const now = this.o.clock.now();
    for (const [key, e] of [...this.saved]) {
      const found = await findByIdentity(dirname(e.path), key);
      if (found === undefined || !(await beginsWith(found, e))) {
        this.saved.delete(key);
        this.dirty = true;
        this.o.logger.warn(
          { path: e.path, offset: e.position.offset, line: e.position.line },
          'watch: a file of the checkpoint is gone (or its inode now holds another file); what was written to it after that position was not read',
        );
        continue;
      }
      if (found === e.path && !e.rotated) continue;
      const f = await this.follow(found, now);
      if (f !== undefined) {
        f.rotated = true;
        this.o.logger.info({ path: found, was: e.path }, 'watch: finishing a rotated file');
      }
    }
  }

  private async refresh(f: FollowedFile, isPresent: boolean, now: number): Promise<void> {
    if (!this.files.has(f.key)) return; // finished meanwhile
    const size = Number((await f.fh.stat()).size);
    if (f.copyOf !== undefined) {
      await this.refreshCopy(f, size, now);
      return;
    }
    const check = size !== f.size || f.headChanged;
    f.headChanged = false;
    if (size < f.read.offset || (check && !(await headMatches(f.fh, f.fingerprint)))) {
      this.o.logger.info(
        { path: f.path, size, offset: f.read.offset },
        'watch: file truncated (copy-truncate); reading it again from its start',
      );
      this.o.metrics?.watchRotations.inc({ kind: 'truncated' });
      // the new content's first bytes at once: looking for the copy takes a while, and the
      // file may be written (or even truncated again) meanwhile
      const fp = await fingerprintOf(f.fh, size);
      await this.continueInCopy(f.key, f.path, f.fingerprint, f.durable, now);
      f.restart(fp);
      this.dirty = true;
    }
    // smaller than where an unfinished line was waited for: that wait no longer holds
    if (size < f.waitingAt) f.waitingAt = -1;
    if (size !== f.size) {
      f.size = size;
      f.lastChangeAt = now;
    }
    if (f.fingerprint.length < FINGERPRINT_BYTES && size > f.fingerprint.length) {
      f.fingerprint = await fingerprintOf(f.fh, size);
      this.dirty = true;
    }
    if (!isPresent && !f.rotated) {
      f.rotated = true;
      f.lastChangeAt = now;
      const moved = await findByIdentity(dirname(f.path), f.key);
      this.o.logger.info(
        { path: f.path, now: moved ?? '(deleted)' },
        'watch: file rotated away; finishing it',
      );
      this.o.metrics?.watchRotations.inc({ kind: moved === undefined ? 'deleted' : 'renamed' });
      if (moved !== undefined) f.path = moved;
      else f.deleted = true;
      this.dirty = true;
    }
    if (!f.rotated) return;
    f.flushTail = now - f.lastChangeAt >= this.o.rotatedIdleMs;
    if (f.flushTail && f.read.offset >= f.size && f.durable.offset === f.read.offset) {
      this.files.delete(f.key);
      await f.fh.close();
      this.dirty = true;
      this.o.logger.info({ path: f.path, lines: f.durable.line }, 'watch: rotated file finished');
    }
  }

  /** A copy not read: still one while its original is followed and it stays a copy of it. */
  private async refreshCopy(f: FollowedFile, size: number, now: number): Promise<void> {
    f.size = size;
    const x = f.copyOf === undefined ? undefined : this.files.get(f.copyOf);
    if (x === undefined || x.rotated) {
      // the original was read to its end (or is being): the copy holds nothing else
      f.resumeAt(await positionAtEnd(f.fh, size, this.buf));
      this.dirty = true;
      return;
    }
    if (await this.isCopyOf(f.fh, size, x)) return;
    this.o.logger.info({ path: f.path, of: x.path }, 'watch: not a copy after all; reading it');
    f.resumeAt(START);
    f.fingerprint = await fingerprintOf(f.fh, size);
    f.lastChangeAt = now;
    this.dirty = true;
  }

  // ---- pump: read whole lines, send, track durability ------------------------------------

  /** Reads and sends until nothing is left or PUMP_MS has passed; waits for what is in flight. */
  private async pump(): Promise<boolean> {
    const until = this.o.clock.now() + PUMP_MS;
    let worked = false;
    while (!this.stopping && this.sendError === undefined) {
      while (this.inflightBytes >= this.o.maxInflightBytes && this.inflight.size > 0) {
        await Promise.race(this.inflight);
      }
      const f = this.nextWithWork();
      if (f === undefined) break;
      await this.readOnce(f);
      worked = true;
      if (this.o.clock.now() >= until) break;
    }
    await Promise.all(this.inflight);
    this.updateGauges();
    if (this.sendError !== undefined) {
      const e = this.sendError;
      this.sendError = undefined;
      for (const f of this.files.values()) f.rewind();
      throw e;
    }
    return worked;
  }

  /** The next file with unread bytes, in turn, so that one busy file does not starve others. */
  private nextWithWork(): FollowedFile | undefined {
    const all = [...this.files.values()];
    for (let i = 0; i < all.length; i++) {
      const f = all[(this.turn + i) % all.length]!;
      if (f.hasWork()) {
        this.turn = (this.turn + i + 1) % all.length;
        return f;
      }
    }
    return undefined;
  }

  private async readOnce(f: FollowedFile): Promise<void> {
    const at = f.read.offset;
    let n: number;
    try {
      n = await readFully(f.fh, this.buf, Math.min(this.buf.length, f.size - at), at);
    } catch (e) {
      this.o.logger.warn({ err: e, path: f.path }, 'watch: read failed; trying again later');
      f.waitingAt = f.size;
      return;
    }
    if (n === 0 || !(await headMatches(f.fh, f.fingerprint))) {
      // truncated since the scan (copy-truncate), perhaps written again: what was read may be
      // the new content at the old offset. Nothing is sent; the next scan sees the truncation
      // and reads the rest from the copy
      f.waitingAt = f.size;
      f.headChanged = true;
      return;
    }
    const bytes = this.buf.subarray(0, n);
    if (f.read.skipping) {
      // the rest of a too-long line, already dead-lettered and counted: skip to its LF
      const nl = bytes.indexOf(10);
      const next: Position =
        nl < 0
          ? { ...f.read, offset: at + n }
          : { ...f.read, offset: at + nl + 1, skipping: false };
      this.track(f, Promise.resolve({ accepted: 0, rejected: 0 }), next, 0, 0);
      return;
    }
    // a UTF-8 BOM at the very start of a file is not part of its first line
    const head = at === 0 && n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    const start = head ? 3 : 0;
    const last = bytes.lastIndexOf(10);
    if (last >= 0) {
      this.sendLines(f, bytes, start, last + 1);
      return;
    }
    if (n >= this.buf.length) {
      this.rejectTooLong(f, bytes, start);
      return;
    }
    if (f.flushTail && at + n === f.size) {
      // rotated away and idle: its writer is done, the unterminated line will not grow
      this.sendLines(f, bytes, start, n);
      return;
    }
    f.waitingAt = f.size;
  }

  private sendLines(f: FollowedFile, bytes: Uint8Array, start: number, end: number): void {
    const at = f.read;
    const sent = this.o.sink.send(bytes, start, end, {
      source: f.source,
      firstLine: at.line + 1,
      firstRecord: at.record,
    });
    const next: Position = {
      offset: at.offset + end,
      line: at.line + sent.lines,
      record: at.record + sent.records,
      skipping: false,
    };
    this.track(f, sent.durable, next, end, sent.lines);
  }

  private rejectTooLong(f: FollowedFile, bytes: Uint8Array, start: number): void {
    const line = f.read.line + 1;
    const durable = this.o.sink
      .reject({
        source: f.source,
        line,
        record: f.read.record,
        code: 'TALLY_LINE_TOO_LONG',
        message:
          `line ${line}: longer than ${this.o.maxLineBytes} bytes (watch.maxLineBytes); ` +
          `skipped, its first ${PREVIEW_BYTES} bytes kept as the payload`,
        payload: previewDecoder.decode(bytes.subarray(start, start + PREVIEW_BYTES)),
      })
      .then(() => ({ accepted: 0, rejected: 1 }));
    const next: Position = {
      offset: f.read.offset + bytes.length,
      line,
      record: f.read.record + 1,
      skipping: true,
    };
    this.track(f, durable, next, bytes.length, 1);
  }

  /** `f` has been read up to `next`; once `durable` resolves (after earlier sends), it is durable. */
  private track(
    f: FollowedFile,
    durable: Promise<{ accepted: number; rejected: number }>,
    next: Position,
    bytes: number,
    lines: number,
  ): void {
    f.read = next;
    this.inflightBytes += bytes;
    let result = { accepted: 0, rejected: 0 };
    const marked = f.afterEarlier(
      durable.then((r) => (result = r)),
      () => {
        f.durable = next;
        this.dirty = true;
        if (lines === 0) return;
        this.totals.lines += lines;
        this.totals.bytes += bytes;
        this.totals.accepted += result.accepted;
        this.totals.rejected += result.rejected;
        this.lastSendAt = this.o.clock.now();
        this.o.metrics?.watchLines.inc(lines);
        this.o.metrics?.watchLastSend.set(this.lastSendAt / 1000);
      },
    );
    const tracked: Promise<void> = marked
      .catch((e: unknown) => {
        this.sendError ??= e;
      })
      .finally(() => {
        this.inflight.delete(tracked);
        this.inflightBytes -= bytes;
      });
    this.inflight.add(tracked);
  }

  // ---- checkpoint and gauges -------------------------------------------------------------

  private async writeCheckpoint(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    // a copy not read is recognised again after a restart: it has no position of its own
    const followed = [...this.files.values()].filter((f) => f.copyOf === undefined);
    const entries = [...followed.map((f) => f.entry()), ...this.saved.values()];
    try {
      await this.o.checkpoint.save(encodeCheckpoint(entries));
      this.checkpointAt = this.o.clock.now();
    } catch (e) {
      this.dirty = true;
      throw e;
    }
  }

  private updateGauges(): void {
    const m = this.o.metrics;
    if (m === undefined) return;
    let behind = 0;
    for (const f of this.files.values()) behind += behindOf(f);
    m.watchFiles.set(this.files.size);
    m.watchBytesBehind.set(behind);
    m.watchLinesBehind.set(Math.ceil(behind / this.meanLineBytes()));
  }
}

/** Bytes of `f` not durable downstream yet (none in a copy that is not read). */
function behindOf(f: FollowedFile): number {
  return f.copyOf === undefined ? Math.max(0, f.size - f.durable.offset) : 0;
}

/** The name under which the file `key` ("dev:ino") is in `dir`, if it is there. */
async function findByIdentity(dir: string, key: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = await stat(path, { bigint: true });
      if (st.isFile() && identityKey(st) === key) return path;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Whether the file at `path` still begins with the bytes the entry's fingerprint was taken of. */
async function beginsWith(path: string, e: CheckpointEntry): Promise<boolean> {
  try {
    const fh = await open(path, 'r');
    try {
      return await headMatches(fh, e.fingerprint);
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/** Errors worth waiting out (a full disk, a busy device); anything else stops the watcher. */
function isTransient(e: unknown): boolean {
  if (isTallyError(e)) return e.retryable;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && TRANSIENT_ERRNO.has(code);
}
