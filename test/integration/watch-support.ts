/**
 * What the watcher tests share: click lines with a known oracle (valid ones, duplicates, and
 * invalid ones that are unique so that each dead letter can be found), a poller for
 * conditions, and the comparison of the drained aggregates with the oracle.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.js';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { openFileDeadLetters } from '../../src/adapters/deadletters-file/index.js';
import type { DeadLetter } from '../../src/ports/dead-letters.js';
import { countByAdMinute, distinctEvents } from '../helpers/oracle.js';

const MINUTE = 60_000;

/** The watcher tests' poll interval and longest line */
export const POLL_MS = 50;
export const MAX_LINE = 4096;

/** A data dir's config for the watcher tests: fast polls, small lines and windows, no status log. */
export function watchTestConfig(dataDir: string): Readonly<Config> {
  return loadConfig({
    env: {},
    overrides: {
      dataDir,
      watch: {
        pollIntervalMs: POLL_MS,
        rotatedIdleMs: 300,
        maxLineBytes: MAX_LINE,
        maxInflightBytes: 64 * 1024,
        statusIntervalMs: 0,
      },
    },
  });
}

/** A seeded generator of click lines; `valid` says whether the line should be counted. */
export class ClickLines {
  private i = 0;
  private readonly sent: string[] = [];
  private rnd: number;

  constructor(
    seed: number,
    private readonly base: number,
    private readonly tag: string,
  ) {
    this.rnd = seed >>> 0 || 1;
  }

  random(): number {
    this.rnd = (Math.imul(this.rnd, 1103515245) + 12345) >>> 0;
    return this.rnd / 2 ** 32;
  }

  /** The next line (without its LF). */
  next(): { text: string; valid: boolean } {
    const i = this.i++;
    const r = this.random();
    const t = this.base + i * 3; // event time moves slowly: 10,000 lines are 30 s
    const ad = `ad-${Math.floor(this.random() * 40)}`;
    if (r < 0.05 && this.sent.length > 0) {
      // a retry: the same event again (dedup must absorb it)
      return { text: this.sent[Math.floor(this.random() * this.sent.length)]!, valid: true };
    }
    if (r < 0.1) {
      return { text: `{"ad_id":"bad id ${this.tag}-${i}","timestamp":${t}}`, valid: false };
    }
    if (r < 0.13) return { text: `{"ad_id":"${ad}","timestamp":${this.tag}-${i}`, valid: false };
    // multi-byte UTF-8 (2, 3 and 4 bytes) so that random cuts fall inside characters
    const user = `"user_id":"ü€𝄞-${this.tag}-${i}"`;
    const text =
      r < 0.4
        ? `{"ad_id":"${ad}","timestamp":${t},${user}}` // no event_id: the content hash is the id
        : `{"ad_id":"${ad}","timestamp":${t},"event_id":"e-${this.tag}-${i}",${user},"country":"DE"}`;
    this.sent.push(text);
    return { text, valid: true };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` until it holds; generous timeouts: the test machine is shared and slow. */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = Number(process.env.TALLY_WAIT_MS ?? 90_000),
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(40);
  }
}

/** Counts in the drained store ("ad|minute" → n), late records folded in. */
export async function countedByAdMinute(dataDir: string): Promise<Map<string, number>> {
  const store = await openSqliteStore({ file: join(dataDir, 'tally.sqlite') });
  try {
    const counted = new Map<string, number>();
    for (const r of await store.rows(-Infinity, Infinity, '*')) {
      counted.set(`${r.adId}|${r.minute}`, r.count);
    }
    for (const l of await store.late(10_000_000)) {
      const k = `${l.adId}|${Math.floor(l.timestamp / MINUTE) * MINUTE}`;
      counted.set(k, (counted.get(k) ?? 0) + 1);
    }
    return counted;
  } finally {
    await store.close();
  }
}

/** Asserts that the drained counts equal the oracle of `lines`: nothing lost, nothing twice. */
export async function assertCountsMatch(
  dataDir: string,
  lines: readonly string[],
  now: number,
  label: string,
): Promise<void> {
  const expected = countByAdMinute(distinctEvents(lines, now));
  const counted = await countedByAdMinute(dataDir);
  let lost = 0;
  let twice = 0;
  for (const [k, n] of expected) {
    const got = counted.get(k) ?? 0;
    if (got < n) lost += n - got;
    if (got > n) twice += got - n;
  }
  for (const [k, got] of counted) if (!expected.has(k)) twice += got;
  assert.equal(lost, 0, `${label}: ${lost} events lost`);
  assert.equal(twice, 0, `${label}: ${twice} events counted twice`);
  assert.ok(expected.size > 0, `${label}: the oracle is empty; the test proved nothing`);
}

export async function deadLetters(dataDir: string): Promise<DeadLetter[]> {
  const dl = await openFileDeadLetters(join(dataDir, 'deadletters'));
  try {
    return await dl.list(10_000_000);
  } finally {
    await dl.close();
  }
}
