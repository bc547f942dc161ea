import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openTestServer, type TestServer } from './helpers.js';

type Json = Record<string, unknown>;

const ROUTES: Array<[string, string]> = [
  ['post', '/v1/clicks'],
  ['get', '/v1/ads/{ad_id}/aggregated_count'],
  ['get', '/v1/ads/popular_ads'],
  ['get', '/v1/ads/{ad_id}/timeseries'],
  ['get', '/v1/status'],
  ['get', '/metrics'],
  ['get', '/healthz'],
  ['get', '/openapi.json'],
  ['get', '/'],
];

/** JSON Schema keywords an OpenAPI 3.0 Schema Object does not have. */
const NOT_IN_OAS30 = [
  'const',
  '$id',
  '$schema',
  'patternProperties',
  'prefixItems',
  'if',
  'then',
  'else',
];

function walk(node: unknown, visit: (n: Json, path: string) => void, path = '#'): void {
  if (Array.isArray(node)) node.forEach((v, i) => walk(v, visit, `${path}/${i}`));
  else if (node !== null && typeof node === 'object') {
    visit(node as Json, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}/${k}`);
  }
}

function resolve(doc: Json, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `local ref: ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((n, key) => (n as Json | undefined)?.[key], doc);
}

describe('GET /openapi.json', () => {
  let t: TestServer;
  let doc: Json;
  before(async () => {
    t = await openTestServer();
    const res = await t.server.inject({ url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    doc = res.json<Json>();
  });
  after(() => t.close());

  test('is an OpenAPI 3.0 document with info', () => {
    assert.match(String(doc['openapi']), /^3\.0\.\d+$/);
    const info = doc['info'] as Json;
    assert.equal(info['title'], 'Tally');
    assert.equal(typeof info['version'], 'string');
    assert.equal(typeof info['description'], 'string');
  });

  test('lists every route of SPEC §3, and nothing else', () => {
    const paths = doc['paths'] as Record<string, Json>;
    const listed = Object.entries(paths).flatMap(([p, item]) =>
      Object.keys(item).map((method) => `${method} ${p}`),
    );
    assert.deepEqual(listed.sort(), ROUTES.map(([m, p]) => `${m} ${p}`).sort());
  });

  test('every operation: summary, description, described responses, declared path parameters', () => {
    for (const [method, path] of ROUTES) {
      const op = (doc['paths'] as Record<string, Record<string, Json>>)[path]![method]!;
      assert.equal(typeof op['summary'], 'string', `${method} ${path}`);
      assert.equal(typeof op['description'], 'string', `${method} ${path}`);
      const responses = op['responses'] as Record<string, Json>;
      assert.ok(Object.keys(responses).length > 0);
      for (const [status, r] of Object.entries(responses)) {
        assert.match(status, /^[1-5]\d\d$/);
        assert.equal(typeof r['description'], 'string', `${method} ${path} ${status}`);
        assert.notEqual(r['description'], 'Default Response', `${method} ${path} ${status}`);
      }
      const params = (op['parameters'] ?? []) as Json[];
      for (const p of params) {
        assert.ok(['query', 'path', 'header', 'cookie'].includes(String(p['in'])));
        assert.equal(typeof p['name'], 'string');
        assert.ok(p['schema'], `${method} ${path} ${String(p['name'])} has a schema`);
      }
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const inPath = params.filter((p) => p['in'] === 'path');
      assert.deepEqual(
        inPath.map((p) => p['name']),
        templated,
      );
      for (const p of inPath) assert.equal(p['required'], true);
    }
  });

  test('query parameters are documented', () => {
    const names = (path: string) =>
      (
        (doc['paths'] as Record<string, Record<string, Json>>)[path]!['get']![
          'parameters'
        ] as Json[]
      )
        .filter((p) => p['in'] === 'query')
        .map((p) => p['name'])
        .sort();
    assert.deepEqual(names('/v1/ads/popular_ads'), ['count', 'filter', 'to', 'window']);
    assert.deepEqual(names('/v1/ads/{ad_id}/aggregated_count'), ['filter', 'from', 'to']);
    assert.deepEqual(names('/v1/ads/{ad_id}/timeseries'), ['filter', 'from', 'to']);
  });

  test('the clicks body documents NDJSON and JSON', () => {
    const op = (doc['paths'] as Record<string, Record<string, Json>>)['/v1/clicks']!['post']!;
    const content = (op['requestBody'] as Json)['content'] as Json;
    assert.deepEqual(Object.keys(content).sort(), [
      'application/json',
      'application/x-ndjson',
      'text/plain',
    ]);
    const responses = op['responses'] as Json;
    for (const s of ['200', '400', '413', '415', '429', '503']) assert.ok(responses[s], s);
  });

  test('errors are the TallyError schema, and every $ref resolves', () => {
    const schemas = (doc['components'] as Json)['schemas'] as Record<string, Json>;
    const err = schemas['TallyError']!;
    assert.deepEqual(err['required'], ['error', 'code']);
    assert.ok((err['properties'] as Json)['parameter']);
    let refs = 0;
    walk(doc, (n, path) => {
      if (typeof n['$ref'] === 'string') {
        refs++;
        assert.ok(resolve(doc, n['$ref']) !== undefined, `${path}: ${n['$ref']} resolves`);
      }
    });
    assert.ok(refs >= 8);
    for (const [method, path] of ROUTES.filter(([, p]) => p.startsWith('/v1/ads'))) {
      const r = (
        (doc['paths'] as Record<string, Record<string, Json>>)[path]![method]!['responses'] as Json
      )['400'] as Json;
      const schema = ((r['content'] as Json)['application/json'] as Json)['schema'] as Json;
      assert.equal(schema['$ref'], '#/components/schemas/TallyError');
    }
  });

  test('schemas use only OpenAPI 3.0 keywords', () => {
    walk(doc, (n, path) => {
      if (!path.includes('/schema')) return;
      for (const k of NOT_IN_OAS30) assert.ok(!(k in n), `${path} has ${k}`);
      if ('type' in n) {
        assert.equal(typeof n['type'], 'string', `${path}: type is one name`);
        assert.notEqual(n['type'], 'null', `${path}: nullable, not type null`);
      }
    });
  });
});
