import assert from 'node:assert/strict';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { openEmbedded } from '../../src/app/embedded.js';
import { openWatch, type WatchApp } from '../../src/app/watch.js';
import { silentLogger } from '../../src/services/observability/logger.js';
import { tally, tallySpawn, tempDir, exited } from '../helpers/cli.js';
import {
  ClickLines,
  MAX_LINE,
  POLL_MS,
  assertCountsMatch,
  deadLetters,
  sleep,
  waitFor,
  watchTestConfig,
} from './watch-support.js';

/** One physical file (an identity): its names over time and the lines written to it. */
interface Identity {
  names: Set<string>;
  lines: number;
}

interface ExpectedLetter {
  ident: Identity;
  line: number;
  payload: string;
  code?: string;
}

type Op =
  | { kind: 'append'; file: number; lines: number; cuts: number[] }
  | { kind: 'partial'; file: number }
  | { kind: 'rename'; file: number; tail: 'none' | 'line' | 'unterminated'; remove: boolean }
  | { kind: 'truncate'; file: number; caughtUp: boolean; named: boolean }
  | { kind: 'long'; file: number };

const file = fc.integer({ min: 0, max: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      file,
      lines: fc.integer({ min: 1, max: 80 }),
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('partial' as const), file }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('rename' as const),
      file,
      tail: fc.constantFrom('none' as const, 'line' as const, 'unterminated' as const),
      remove: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('truncate' as const),
      file,
      caughtUp: fc.boolean(),
      named: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('long' as const), file }) },
);

/** Drives one scenario: a writer doing `ops` on logs/*.log while the watcher follows them. */
class Scenario {
  readonly logs: string;
  readonly counted: string[] = [];
  readonly letters: ExpectedLetter[] = [];
  written = 0;
  private readonly current = new Map<number, Identity>();
  private rotations = 0;
  readonly gen: ClickLines;

  constructor(
    dir: string,
    seed: number,
    now: number,
    private readonly w: WatchApp,
  ) {
    this.logs = join(dir, 'logs');
    mkdirSync(this.logs, { recursive: true });
    this.gen = new ClickLines(seed, now - 4 * 60_000, `s${seed}`);
  }

  path(f: number): string {
    return join(this.logs, `${'abc'[f]}.log`);
  }

  private ident(f: number): Identity {
    let id = this.current.get(f);
    if (id === undefined || !existsSync(this.path(f))) {
      id = { names: new Set([this.path(f)]), lines: 0 };
      this.current.set(f, id);
    }
    return id;
  }

  /** Records a line written to `id` (the oracle), returns its bytes with the LF (or not). */
  private line(id: Identity, text: string, valid: boolean, lf = true): Buffer {
    id.lines++;
    this.written++;
    if (valid) this.counted.push(text);
    else this.letters.push({ ident: id, line: id.lines, payload: text });
    return Buffer.from(lf ? `${text}\n` : text);
  }

  /** The watcher's status of the file now at `path` (by identity: names move). */
  private followed(path: string) {
    let key: string;
    try {
      const st = statSync(path, { bigint: true });
      key = `${st.dev}:${st.ino}`;
    } catch {
      return undefined;
    }
    return this.w.watcher.status().files.find((s) => s.identity === key);
  }

  private async writeInPieces(path: string, bytes: Buffer, cuts: number[]): Promise<void> {
    const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
    let from = 0;
    for (const c of [...at, bytes.length]) {
      if (c <= from) continue;
      appendFileSync(path, bytes.subarray(from, c));
      from = c;
      if (this.gen.random() < 0.5) await sleep(Math.floor(this.gen.random() * 2 * POLL_MS));
    }
  }

  async run(op: Op): Promise<void> {
    const path = this.path(op.file);
    switch (op.kind) {
      case 'append': {
        const id = this.ident(op.file);
        const parts: Buffer[] = [];
        for (let i = 0; i < op.lines; i++) {
          const l = this.gen.next();
          parts.push(this.line(id, l.text, l.valid));
        }
        await this.writeInPieces(path, Buffer.concat(parts), op.cuts);
        return;
      }
      case 'partial': {
        // half a line (cut inside a multi-byte character) sits for a while: never sent half
        const id = this.ident(op.file);
        let l = this.gen.next();
        while (!l.valid) l = this.gen.next();
        const bytes = this.line(id, l.text, true);
        const cut = bytes.indexOf('€') + 1;
        appendFileSync(path, bytes.subarray(0, cut));
        const before = statSync(path).size - cut;
        await waitFor(
          'the lines before a partial one',
          () => this.followed(path)?.offset === before,
        );
        await sleep(4 * POLL_MS);
        assert.equal(
          this.followed(path)?.offset,
          before,
          `half a line was sent: ${JSON.stringify(this.w.watcher.status().files)}`,
        );
        appendFileSync(path, bytes.subarray(cut));
        return;
      }
      case 'long': {
        const id = this.ident(op.file);
        const text = `{"ad_id":"ad-1","timestamp":${Date.now() - 60_000},"pad":"${'x'.repeat(MAX_LINE + 500)}"}`;
        const bytes = this.line(id, text, false);
        this.letters[this.letters.length - 1]!.payload = text.slice(0, 1024);
        this.letters[this.letters.length - 1]!.code = 'TALLY_LINE_TOO_LONG';
        await this.writeInPieces(path, bytes, [0.3, 0.6]);
        return;
      }
      case 'rename': {
        if (!existsSync(path)) return;
        const id = this.ident(op.file);
        await waitFor(`${path} followed`, () => this.followed(path) !== undefined);
        const to = `${path}.${++this.rotations}`;
        renameSync(path, to);
        id.names.add(to);
        // the writer may still write to the old file for a moment after the rename
        if (op.tail !== 'none') {
          let l = this.gen.next();
          while (!l.valid) l = this.gen.next();
          appendFileSync(to, this.line(id, l.text, true, op.tail === 'line'));
        }
        if (op.remove) unlinkSync(to); // deleted: still finished through the open handle
        this.current.delete(op.file);
        return;
      }
      case 'truncate': {
        if (!existsSync(path)) return;
        const id = this.ident(op.file);
        // copy-truncate at a line boundary, sometimes once the watcher has caught up with the
        // file, else with lines it has not read yet (they are read from the copy); the copy's
        // name matches the glob or not
        if (op.caughtUp) {
          await waitFor(
            `${path} caught up`,
            () => this.followed(path)?.offset === statSync(path).size,
          );
        } else {
          // looked at since its last change (two copy-truncates before the watcher looks again
          // lose the content between them; a file empty at its last look has no fingerprint)
          if (statSync(path).size === 0) return;
          await waitFor(
            `${path} looked at`,
            () => this.followed(path)?.size === statSync(path).size,
          );
        }
        const n = ++this.rotations;
        const copy = op.named
          ? join(this.logs, `${'abc'[op.file]}-copy${n}.log`)
          : `${path}.copy${n}`;
        copyFileSync(path, copy);
        truncateSync(path, 0);
        id.names.add(copy);
        this.current.set(op.file, { names: new Set([path]), lines: 0 });
        return;
      }
    }
  }
}

describe('tally watch follows files (real files, real log)', () => {
  it(
    'random appends, partial lines, rename and copy-truncate rotation, new and deleted files: counts equal the oracle',
    { timeout: 600_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { minLength: 8, maxLength: 18 }),
          fc.integer({ min: 1, max: 1_000_000 }),
          async (ops, seed) => {
            const tmp = tempDir('watch');
            try {
              const dataDir = join(tmp.dir, 'data');
              const config = watchTestConfig(dataDir);
              const now = Date.now();
              const logs = join(tmp.dir, 'logs');
              const w = await openWatch(config, {
                logger: silentLogger(),
                patterns: [join(logs, '*.log')],
                cwd: tmp.dir,
              });
              const s = new Scenario(tmp.dir, seed, now, w);
              try {
                // the first file exists before, the others are created while watching
                await s.run({ kind: 'append', file: 0, lines: 50, cuts: [0.5] });
                for (const op of ops) await s.run(op);
                await waitFor('every line sent and every rotated file finished', () => {
                  const st = w.watcher.status();
                  return st.linesSent >= s.written && st.files.every((f) => !f.rotated);
                }).catch((e: Error) => {
                  e.message += `: ${s.written} lines written, ${JSON.stringify(w.watcher.status())}`;
                  throw e;
                });
              } finally {
                await w.close();
              }
              assert.equal(w.watcher.status().linesSent, s.written, 'lines sent = lines written');

              const app = await openEmbedded(config, { logger: silentLogger() });
              try {
                await app.runner.drain();
              } finally {
                await app.close();
              }
              await assertCountsMatch(dataDir, s.counted, now, `seed ${seed}`);

              const got = await deadLetters(dataDir);
              assert.equal(got.length, s.letters.length, 'one dead letter per invalid line');
              for (const e of s.letters) {
                const hit = got.filter(
                  (l) =>
                    l.index === e.line &&
                    l.payload === e.payload &&
                    [...e.ident.names].some((n) => l.source === `file:${n}`),
                );
                assert.equal(hit.length, 1, `dead letter for line ${e.line}: ${e.payload}`);
                if (e.code) assert.equal(hit[0]!.code, e.code);
              }
            } catch (e) {
              console.error(`watch scenario (seed ${seed}) ${JSON.stringify(ops)} failed:`, e); // fast-check hides it
              throw e;
            } finally {
              tmp.cleanup();
            }
          },
        ),
        // no shrinking: each run is seconds of real I/O; the failing case and seed are printed
        {
          numRuns: Number(process.env.TALLY_WATCH_RUNS ?? 3),
          endOnFailure: true,
          // TALLY_WATCH_SEED=<seed> TALLY_WATCH_PATH=<path> replays a printed failure
          ...(process.env.TALLY_WATCH_SEED
            ? { seed: Number(process.env.TALLY_WATCH_SEED), path: process.env.TALLY_WATCH_PATH }
            : {}),
        },
      );
    },
  );

  it('resumes from its checkpoint after a stop: nothing read twice, nothing skipped', async () => {
    const tmp = tempDir('watch-resume');
    try {
      const dataDir = join(tmp.dir, 'data');
      const config = watchTestConfig(dataDir);
      const log = join(tmp.dir, 'a.log');
      const gen = new ClickLines(5, Date.now() - 3 * 60_000, 'r');
      const lines: string[] = [];
      const write = (n: number) => {
        let out = '';
        for (let i = 0; i < n; i++) {
          const l = gen.next();
          lines.push(l.text);
          out += `${l.text}\n`;
        }
        appendFileSync(log, out);
      };
      write(300);
      const open = () =>
        openWatch(config, { logger: silentLogger(), patterns: [log], cwd: tmp.dir });
      let w = await open();
      await waitFor('300 lines', () => w.watcher.status().linesSent === 300);
      await w.close();
      write(200);
      // rotated while the watcher was stopped: found by its inode and finished
      renameSync(log, `${log}.1`);
      write(100);
      w = await open();
      await waitFor(
        'the rest',
        () => w.watcher.status().linesSent === 300 && w.watcher.status().filesFollowed === 1,
      );
      await w.close();
      assert.equal(w.watcher.status().linesSent, 300, '200 + 100 lines after the restart');
    } finally {
      tmp.cleanup();
    }
  });

  it('tally watch serves /status and /metrics, and SIGTERM saves the positions and exits 0', async () => {
    const tmp = tempDir('watch-cli');
    try {
      const dataDir = join(tmp.dir, 'data');
      const log = join(tmp.dir, 'a.log');
      const gen = new ClickLines(9, Date.now() - 3 * 60_000, 'c');
      let text = '';
      for (let i = 0; i < 500; i++) text += `${gen.next().text}\n`;
      writeFileSync(log, text);
      const child = tallySpawn(['--data-dir', dataDir, 'watch', log, '--status-port', '0']);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const done = exited(child);
      try {
        await waitFor('the status address', () => /http:\/\/127\.0\.0\.1:\d+/.test(stderr));
        const url = /http:\/\/127\.0\.0\.1:\d+/.exec(stderr)![0];
        let status: { linesSent: number; files: { offset: number }[] } | undefined;
        await waitFor('500 lines sent', async () => {
          status = (await (await fetch(`${url}/status`)).json()) as typeof status;
          return status?.linesSent === 500;
        });
        assert.equal(status?.files[0]?.offset, Buffer.byteLength(text));
        const metrics = await (await fetch(`${url}/metrics`)).text();
        assert.match(metrics, /^tally_watch_lines_sent_total 500$/m);
        assert.match(metrics, /^tally_watch_files 1$/m);
      } finally {
        child.kill('SIGTERM');
      }
      assert.equal(await done, 0, stderr);
      const summary = JSON.parse(stdout) as { lines: number; accepted: number; rejected: number };
      assert.equal(summary.lines, 500);
      assert.equal(summary.accepted + summary.rejected, 500);
      const cp = JSON.parse(readFileSync(join(dataDir, 'watch', 'checkpoint.json'), 'utf8')) as {
        files: { position: { offset: number; line: number } }[];
      };
      assert.deepEqual(
        cp.files.map((f) => [f.position.offset, f.position.line]),
        [[Buffer.byteLength(text), 500]],
      );
    } finally {
      tmp.cleanup();
    }
  });

  it('refuses a data dir that a running process owns, with a clear message', async () => {
    const tmp = tempDir('watch-lock');
    try {
      const dataDir = join(tmp.dir, 'data');
      writeFileSync(join(tmp.dir, 'a.log'), '');
      const server = tallySpawn(['--data-dir', dataDir, 'start', '--port', '0']);
      try {
        await waitFor('the server to own the data dir', () => existsSync(join(dataDir, 'LOCK')));
        const r = tally(['--data-dir', dataDir, 'watch', join(tmp.dir, 'a.log'), '--once']);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /owned by process \d+ .*tally start/);
        assert.match(r.stderr, /TALLY_UNAVAILABLE/);
      } finally {
        server.kill('SIGTERM');
        await exited(server);
      }
    } finally {
      tmp.cleanup();
    }
  });
});
