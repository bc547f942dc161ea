import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.js';
import { isTallyError } from '../../../src/core/errors.js';
import { tempDir } from '../../helpers/cli.js';

function configError(fn: () => unknown): {
  code: string;
  field: string | undefined;
  message: string;
} {
  try {
    fn();
  } catch (e) {
    assert.ok(isTallyError(e), `expected a TallyError, got ${String(e)}`);
    return { code: e.code, field: e.field, message: e.message };
  }
  assert.fail('expected an error');
}

describe('config', () => {
  it('has the SPEC defaults', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.http.port, 8080);
    assert.equal(c.http.host, '127.0.0.1');
    assert.equal(c.dataDir, './data');
    assert.equal(c.aggregation.watermarkDelayMs, 15_000);
    assert.equal(c.aggregation.allowedLatenessMs, 300_000);
    assert.equal(c.aggregation.idleTimeoutMs, 10_000);
    assert.equal(c.aggregation.dedupHorizonMs, 3_600_000);
    assert.equal(c.aggregation.maxFutureSkewMs, 300_000);
    assert.deepEqual(c.aggregation.dimensions, ['country']);
    assert.deepEqual(c.aggregation.topWindows, [1, 5, 60]);
    assert.equal(c.log.partitions, 8);
    assert.equal(c.log.durability, 'fsync');
    assert.equal(c.mode, 'embedded');
  });

  it('the distributed mode: SPEC §5 environment keys and defaults', () => {
    const d = loadConfig({ env: {} }).distributed;
    assert.deepEqual(d.brokers, ['127.0.0.1:9092']);
    assert.equal(d.databaseUrl, 'postgres://tally@127.0.0.1:5433/tally');
    assert.equal(d.namespace, 'tally');
    assert.deepEqual(d.roles, ['all']);
    const c = loadConfig({
      env: {
        TALLY_MODE: 'distributed',
        TALLY_KAFKA_BROKERS: 'k1:9092, k2:9093',
        TALLY_DATABASE_URL: 'postgresql://u@db:5432/x',
        TALLY_NAMESPACE: 'prod_eu',
        TALLY_ROLE: 'ingest,query',
      },
    });
    assert.equal(c.mode, 'distributed');
    assert.deepEqual(c.distributed.brokers, ['k1:9092', 'k2:9093']);
    assert.equal(c.distributed.databaseUrl, 'postgresql://u@db:5432/x');
    assert.equal(c.distributed.namespace, 'prod_eu');
    assert.deepEqual(c.distributed.roles, ['ingest', 'query']);
  });

  it('a bad distributed value names the environment key it came from, or the config key', () => {
    for (const [key, value] of [
      ['TALLY_KAFKA_BROKERS', 'no-port'],
      ['TALLY_DATABASE_URL', 'mysql://x'],
      ['TALLY_NAMESPACE', 'Has-Caps'],
      ['TALLY_ROLE', 'ingest,mapper'],
      ['TALLY_MODE', 'cluster'],
    ]) {
      const e = configError(() => loadConfig({ env: { [key as string]: value } }));
      assert.equal(e.code, 'TALLY_CONFIG_INVALID');
      assert.match(e.message, new RegExp(`^${key} \\(config `), e.message);
    }
    // a flag's value overrides the environment: the error names the config key alone then
    const e = configError(() =>
      loadConfig({
        env: { TALLY_NAMESPACE: 'ok' },
        overrides: { distributed: { namespace: 'Bad' } },
      }),
    );
    assert.equal(e.field, 'distributed.namespace');
    assert.match(e.message, /^config distributed\.namespace/);
  });

  it('layers file ← env ← overrides, and freezes the result', () => {
    const t = tempDir('config');
    try {
      const file = join(t.dir, 'c.json');
      writeFileSync(file, JSON.stringify({ http: { port: 9000 }, aggregation: { topN: 10 } }));
      const c = loadConfig({
        file,
        env: { TALLY_PORT: '9100', TALLY_DIMENSIONS: 'country,ip' },
        overrides: { aggregation: { topN: 20 } },
      });
      assert.equal(c.http.port, 9100);
      assert.equal(c.aggregation.topN, 20);
      assert.deepEqual(c.aggregation.dimensions, ['country', 'ip']);
      assert.ok(Object.isFrozen(c) && Object.isFrozen(c.aggregation));
    } finally {
      t.cleanup();
    }
  });

  it('names the key of every invalid value', () => {
    assert.equal(configError(() => loadConfig({ env: { TALLY_PORT: 'abc' } })).field, 'TALLY_PORT');
    assert.equal(
      configError(() => loadConfig({ env: {}, overrides: { aggregation: { topN: 0 } } })).field,
      'aggregation.topN',
    );
    const unknown = configError(() => loadConfig({ env: {}, overrides: { nope: 1 } as never }));
    assert.equal(unknown.code, 'TALLY_CONFIG_INVALID');
    assert.match(unknown.message, /nope/);
    const dims = configError(() => loadConfig({ env: { TALLY_DIMENSIONS: 'country,shoe_size' } }));
    assert.match(dims.field ?? '', /aggregation\.dimensions/);
  });

  it('reports an unreadable or malformed config file', () => {
    assert.equal(
      configError(() => loadConfig({ file: '/nonexistent/tally.json', env: {} })).field,
      'config',
    );
    const t = tempDir('config');
    try {
      const file = join(t.dir, 'bad.json');
      writeFileSync(file, '{ "http": ');
      assert.match(configError(() => loadConfig({ file, env: {} })).message, /not valid JSON/);
    } finally {
      t.cleanup();
    }
  });
});
