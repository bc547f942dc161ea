/**
 * The dependency rule of docs/architecture.md, as lint enforces it: for every pair of layers,
 * an import from one into the other is an error exactly when the picture has no such arrow.
 * The arrows are written out here, apart from eslint.config.js, so that a rule that stops
 * firing (or fires on an allowed arrow) fails this test.
 */
import assert from 'node:assert/strict';
import { join, posix } from 'node:path';
import { before, describe, it } from 'node:test';
import { ESLint } from 'eslint';
import { ROOT } from '../../helpers/cli.js';

const LAYERS = ['core', 'ports', 'config', 'adapters', 'services', 'app', 'cli'] as const;
type Layer = (typeof LAYERS)[number];

/** the arrows: who may import whom (besides itself) */
const ARROWS: Record<Layer, readonly Layer[]> = {
  core: [],
  ports: ['core'],
  config: ['core'],
  adapters: ['core', 'ports', 'config'],
  services: ['core', 'ports', 'config'],
  app: ['core', 'ports', 'config', 'adapters', 'services'],
  cli: ['app', 'config'],
};

let eslint: ESLint;

/** the no-restricted-imports messages for `code` placed in src/<file> */
async function violations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, 'src', file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

/** an import statement from src/<from>/x/here.ts to src/<to> */
function importOf(from: string, to: string, kind: 'value' | 'type' | 're-export' = 'value') {
  const spec = posix.relative(posix.join(from, 'x'), to);
  if (kind === 'type') return `import type { T } from '${spec}';\nexport type U = T;\n`;
  if (kind === 're-export') return `export * from '${spec}';\n`;
  return `import { v } from '${spec}';\nexport const w = v;\n`;
}

describe('the dependency rule (lint)', () => {
  before(() => {
    eslint = new ESLint({ cwd: ROOT });
  });

  for (const from of LAYERS) {
    for (const to of LAYERS) {
      if (from === to) continue;
      const allowed = ARROWS[from].includes(to);
      it(`${from} → ${to}: ${allowed ? 'allowed' : 'an error'}`, async () => {
        const found = await violations(`${from}/x/here.ts`, importOf(from, `${to}/y/there.js`));
        if (allowed) assert.deepEqual(found, []);
        else assert.equal(found.length, 1, `expected ${from} → ${to} to be refused`);
      });
    }
  }

  it('refuses type-only imports and re-exports across a missing arrow too', async () => {
    const type = await violations('ports/x/here.ts', importOf('ports', 'adapters/y.js', 'type'));
    assert.equal(type.length, 1);
    const reexport = await violations(
      'cli/x/here.ts',
      importOf('cli', 'services/y.js', 're-export'),
    );
    assert.equal(reexport.length, 1);
  });

  it('lets cli reach the error catalogue of the core, and nothing else of it', async () => {
    assert.deepEqual(await violations('cli/x/here.ts', importOf('cli', 'core/errors.js')), []);
    assert.equal((await violations('cli/x/here.ts', importOf('cli', 'core/event/y.js'))).length, 1);
    assert.equal((await violations('cli/x/here.ts', importOf('cli', 'core/errors2.js'))).length, 1);
  });

  it('keeps core and ports free of node:* and packages; the others may use them', async () => {
    for (const layer of ['core', 'ports']) {
      for (const spec of ['node:fs', 'fs', 'better-sqlite3']) {
        const code = `import x from '${spec}';\nexport const y = x;\n`;
        assert.equal((await violations(`${layer}/here.ts`, code)).length, 1, `${layer} → ${spec}`);
      }
    }
    const code = `import x from 'node:fs';\nexport const y = x;\n`;
    assert.deepEqual(await violations('adapters/here.ts', code), []);
  });

  it('keeps tests and benchmarks out of every layer', async () => {
    for (const layer of LAYERS) {
      for (const outside of ['bench/index.js', 'test/helpers/cli.js']) {
        const spec = posix.relative(posix.join('src', layer, 'x'), outside);
        const code = `import { v } from '${spec}';\nexport const w = v;\n`;
        assert.equal(
          (await violations(`${layer}/x/here.ts`, code)).length,
          1,
          `${layer} → ${outside}`,
        );
      }
    }
  });
});
