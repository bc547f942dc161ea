import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DEAD_LETTERS_FILE,
  openFileDeadLetters,
} from '../../src/adapters/deadletters-file/index.js';
import { letter, runDeadLetterStoreContract } from '../contract/dead-letters.contract.js';

const made: string[] = [];
// tests remove their directories as they go; this catches what a failing one left behind
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tally-deadletters-'));
  made.push(dir);
  return dir;
}

runDeadLetterStoreContract('file', async () => {
  const dir = await tempDir();
  let current = await openFileDeadLetters(dir);
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = await openFileDeadLetters(dir);
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('file dead letters: crashes and readers', () => {
  it('cuts a torn last line at any byte and keeps every whole one', async () => {
    const dir = await tempDir();
    const letters = Array.from({ length: 12 }, (_, i) =>
      letter(i, { payload: `payload ${'é'.repeat(i)}` }),
    );
    const store = await openFileDeadLetters(dir);
    await store.add(letters);
    await store.close();
    const file = join(dir, DEAD_LETTERS_FILE);
    const full = await readFile(file);
    const ends: number[] = [];
    for (let i = full.indexOf(0x0a); i >= 0; i = full.indexOf(0x0a, i + 1)) ends.push(i + 1);
    for (let cut = 0; cut <= full.byteLength; cut += 7) {
      await appendFile(file, ''); // keep the file present
      await truncate(file, cut);
      const keep = ends.filter((e) => e <= cut).length;
      const validEnd = keep === 0 ? 0 : (ends[keep - 1] as number);
      const s = await openFileDeadLetters(dir);
      assert.equal(await s.count(), keep, `cut at ${cut}`);
      assert.deepEqual(await s.list(100), letters.slice(0, keep));
      const rep = s.recoveryReport();
      if (cut === validEnd) assert.equal(rep, undefined);
      else assert.equal(rep?.bytesDropped, cut - validEnd);
      assert.equal((await stat(file)).size, validEnd);
      await s.close();
      // put the whole file back for the next cut
      await rm(file);
      await appendFile(file, full);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('drops a trailing line that a crash left as garbage', async () => {
    const dir = await tempDir();
    const store = await openFileDeadLetters(dir);
    await store.add([letter(0), letter(1)]);
    await store.close();
    await appendFile(join(dir, DEAD_LETTERS_FILE), '\0\0\0\0\n{"half":');
    const again = await openFileDeadLetters(dir);
    assert.deepEqual(await again.list(10), [letter(0), letter(1)]);
    await again.add([letter(2)]);
    assert.deepEqual(await again.list(10), [letter(0), letter(1), letter(2)]);
    await again.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens read-only, without touching the file, while another instance writes', async () => {
    const dir = await tempDir();
    const writer = await openFileDeadLetters(dir);
    await writer.add([letter(0), letter(1)]);
    const reader = await openFileDeadLetters(dir);
    assert.equal(reader.readOnly, true);
    assert.deepEqual(await reader.list(10), [letter(0), letter(1)]);
    await assert.rejects(async () => reader.add([letter(9)]), { code: 'TALLY_UNAVAILABLE' });
    await reader.close();
    await writer.add([letter(2)]);
    assert.equal(await writer.count(), 3);
    await writer.close();
    await rm(dir, { recursive: true, force: true });
  });
});
