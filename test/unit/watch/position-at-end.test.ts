import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BatchEncoder } from '../../../src/core/event/encode-batch.js';
import { positionAtEnd } from '../../../src/services/watcher/followed-file.js';
import { tempDir } from '../../helpers/cli.js';

describe('positionAtEnd (where a copy already read through its original ends)', () => {
  it('counts lines and records as the encoder does, whatever the read size', async () => {
    const tmp = tempDir('position-at-end');
    try {
      const file = join(tmp.dir, 'copy.log');
      const piece = fc.constantFrom('{"ad_id":"a","timestamp":1}', '', ' ', '\t', '\r', 'x', 'ü');
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(piece, { maxLength: 3 }), { maxLength: 8 }),
          fc.boolean(),
          fc.integer({ min: 1, max: 64 }),
          async (lines, terminated, window) => {
            const text = lines.map((l) => l.join('')).join('\n') + (terminated ? '\n' : '');
            const bytes = Buffer.from(text);
            writeFileSync(file, bytes);
            const fh = await open(file);
            try {
              const p = await positionAtEnd(fh, bytes.length, new Uint8Array(window));
              const e = new BatchEncoder().encodeNdjson(bytes, {
                now: 0,
                maxFutureSkewMs: 0,
                partitions: 1,
              });
              const open_ = bytes.length > 0 && bytes[bytes.length - 1] !== 10;
              assert.equal(p.offset, bytes.length);
              assert.equal(p.line, e.lines, 'lines');
              assert.equal(p.record, e.records, 'records');
              assert.equal(p.skipping, open_);
            } finally {
              await fh.close();
            }
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      tmp.cleanup();
    }
  });
});
