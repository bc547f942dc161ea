import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exited, tally, tallySpawn, tempDir } from '../helpers/cli.js';
import { ClickLines, assertCountsMatch, deadLetters, sleep } from './watch-support.js';

interface Identity {
  names: Set<string>;
  lines: number;
  ino: number;
}

/**
 * A writer appending click lines to logs/*.log in pieces cut at random bytes, rotating files
 * by rename (only files a watcher has checkpointed: a file rotated away before any watcher
 * saw it cannot be found by anyone), and creating new files, while `tally watch` is killed
 * with SIGKILL at random moments and restarted.
 */
class Writer {
  readonly counted: string[] = [];
  readonly letters: Array<{ ident: Identity; line: number; payload: string }> = [];
  private readonly pending = new Map<string, Buffer>();
  private readonly idents = new Map<string, Identity>();
  private rotations = 0;
  private files = ['a', 'b'];

  constructor(
    readonly logs: string,
    private readonly checkpoint: string,
    readonly gen: ClickLines,
  ) {}

  private ident(name: string): Identity {
    const path = join(this.logs, `${name}.log`);
    let id = this.idents.get(name);
    if (id === undefined || !existsSync(path)) {
      appendFileSync(path, '');
      id = { names: new Set([path]), lines: 0, ino: statSync(path).ino };
      this.idents.set(name, id);
    }
    return id;
  }

  tick(): void {
    if (this.files.length < 3 && this.gen.random() < 0.02) this.files.push('c');
    for (const name of this.files) {
      const path = join(this.logs, `${name}.log`);
      const id = this.ident(name);
      let add = '';
      const n = Math.floor(this.gen.random() * 25);
      for (let i = 0; i < n; i++) {
        const l = this.gen.next();
        id.lines++;
        if (l.valid) this.counted.push(l.text);
        else this.letters.push({ ident: id, line: id.lines, payload: l.text });
        add += `${l.text}\n`;
      }
      const buf = Buffer.concat([this.pending.get(name) ?? Buffer.alloc(0), Buffer.from(add)]);
      const cut = Math.floor(this.gen.random() * (buf.length + 1));
      appendFileSync(path, buf.subarray(0, cut));
      this.pending.set(name, buf.subarray(cut));
      if (this.gen.random() < 0.03 && this.checkpointed(id.ino)) this.rotate(name);
    }
  }

  private checkpointed(ino: number): boolean {
    try {
      const cp = JSON.parse(readFileSync(this.checkpoint, 'utf8')) as { files: { ino: string }[] };
      return cp.files.some((f) => f.ino === String(ino));
    } catch {
      return false;
    }
  }

  /** Rename rotation at a line boundary: the writer finishes its line, then renames. */
  private rotate(name: string): void {
    const path = join(this.logs, `${name}.log`);
    this.flush(name);
    const to = `${path}.${++this.rotations}`;
    renameSync(path, to);
    this.idents.get(name)!.names.add(to);
    this.idents.delete(name);
  }

  /**
   * Rotates one file the watcher has checkpointed, if any: a seed whose random rotations all
   * missed (a loaded machine checkpoints late) still tests one.
   */
  rotateOneCheckpointed(): boolean {
    const name = this.files.find((n) => {
      const id = this.idents.get(n);
      return id !== undefined && this.checkpointed(id.ino);
    });
    if (name !== undefined) this.rotate(name);
    return name !== undefined;
  }

  private flush(name: string): void {
    const rest = this.pending.get(name);
    if (rest && rest.length > 0) appendFileSync(join(this.logs, `${name}.log`), rest);
    this.pending.set(name, Buffer.alloc(0));
  }

  finish(): void {
    for (const name of this.files) this.flush(name);
  }

  get rotated(): number {
    return this.rotations;
  }
}

describe('tally watch through kill -9 (CLI child processes)', () => {
  it(
    'every valid line counted once, every invalid one dead-lettered with its line number',
    { timeout: 600_000 },
    async () => {
      const tmp = tempDir('watch-crash');
      const seed = Number(process.env.TALLY_CRASH_SEED ?? Date.now() % 100_000);
      try {
        const dataDir = join(tmp.dir, 'data');
        const logs = join(tmp.dir, 'logs');
        mkdirSync(logs);
        const now = Date.now();
        const writer = new Writer(
          logs,
          join(dataDir, 'watch', 'checkpoint.json'),
          new ClickLines(seed, now - 4 * 60_000, `k${seed}`),
        );
        let writing = true;
        const writes = (async () => {
          while (writing) {
            writer.tick();
            await sleep(15);
          }
        })();
        const watch = ['--data-dir', dataDir, 'watch', join(logs, '*.log')];
        const opts = ['--poll-interval', '50', '--rotated-idle', '300'];
        let kills = 0;
        try {
          // seven kills, and more (up to 12) until a file has been rotated
          for (let cycle = 0; cycle < 7 || (writer.rotated === 0 && cycle < 12); cycle++) {
            const child = tallySpawn([...watch, ...opts]);
            let stderr = '';
            child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
            const done = exited(child);
            await sleep(400 + writer.gen.random() * 2000);
            assert.equal(child.exitCode, null, `the watcher died by itself: ${stderr}`);
            // a loaded machine can start the watcher so slowly that it never checkpoints
            // before its kill: from the fourth cycle on, wait for a checkpoint (up to 60 s)
            if (cycle >= 3 && writer.rotated === 0) {
              for (let t = 0; t < 600 && !writer.rotateOneCheckpointed(); t++) await sleep(100);
            }
            child.kill('SIGKILL');
            await done;
            kills++;
            // sometimes the watcher stays down a while: lines pile up, files rotate meanwhile
            if (writer.gen.random() < 0.5) await sleep(writer.gen.random() * 800);
          }
        } finally {
          writing = false;
          await writes;
        }
        writer.finish();
        const last = tally([...watch, '--once', '--rotated-idle', '0']);
        assert.equal(last.status, 0, last.stderr);
        const drain = tally(['--data-dir', dataDir, 'aggregate', '--drain']);
        assert.equal(drain.status, 0, drain.stderr);
        assert.ok(kills >= 5, 'the watcher was killed');
        assert.ok(writer.rotated > 0, `seed ${seed}: no rotation happened; the test proved less`);

        await assertCountsMatch(dataDir, writer.counted, now, `seed ${seed}`);
        const got = await deadLetters(dataDir);
        for (const e of writer.letters) {
          const hit = got.some(
            (l) =>
              l.index === e.line &&
              l.payload === e.payload &&
              [...e.ident.names].some((n) => l.source === `file:${n}`),
          );
          assert.ok(hit, `seed ${seed}: no dead letter for line ${e.line}: ${e.payload}`);
        }
      } finally {
        if (process.env.TALLY_TEST_KEEP) console.error(`kept ${tmp.dir}`);
        else tmp.cleanup();
      }
    },
  );
});
