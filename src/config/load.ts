import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { TallyError } from '../core/errors.js';
import { ConfigSchema, type Config } from './schema.js';

/**
 * Config is assembled once — defaults ← file (--config) ← environment ← CLI flags — validated
 * against the schema, frozen and passed down typed. Only this module reads process.env.
 */
export interface ConfigSources {
  file?: string | undefined;
  /** overrides from CLI flags, as a partial config object */
  overrides?: DeepPartial<Config>;
  env?: NodeJS.ProcessEnv;
}

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

/** Environment variables and the config path each sets. */
const ENV_KEYS: Array<[string, string[], 'string' | 'int' | 'list']> = [
  ['TALLY_DATA_DIR', ['dataDir'], 'string'],
  ['TALLY_MODE', ['mode'], 'string'],
  ['TALLY_LOG_LEVEL', ['logLevel'], 'string'],
  ['TALLY_HOST', ['http', 'host'], 'string'],
  ['TALLY_PORT', ['http', 'port'], 'int'],
  ['TALLY_PARTITIONS', ['log', 'partitions'], 'int'],
  ['TALLY_DURABILITY', ['log', 'durability'], 'string'],
  ['TALLY_WATERMARK_DELAY_MS', ['aggregation', 'watermarkDelayMs'], 'int'],
  ['TALLY_ALLOWED_LATENESS_MS', ['aggregation', 'allowedLatenessMs'], 'int'],
  ['TALLY_IDLE_TIMEOUT_MS', ['aggregation', 'idleTimeoutMs'], 'int'],
  ['TALLY_DEDUP_HORIZON_MS', ['aggregation', 'dedupHorizonMs'], 'int'],
  ['TALLY_DIMENSIONS', ['aggregation', 'dimensions'], 'list'],
  ['TALLY_COMMIT_INTERVAL_MS', ['aggregation', 'commitIntervalMs'], 'int'],
  ['TALLY_SNAPSHOT_INTERVAL_MS', ['aggregation', 'snapshotIntervalMs'], 'int'],
  ['TALLY_BODY_LIMIT_BYTES', ['http', 'bodyLimitBytes'], 'int'],
  ['TALLY_MAX_RECORDS_PER_REQUEST', ['http', 'maxRecordsPerRequest'], 'int'],
  ['TALLY_MAX_INFLIGHT_BYTES', ['http', 'maxInflightBytes'], 'int'],
  ['TALLY_ARCHIVE_INTERVAL_MS', ['archive', 'intervalMs'], 'int'],
  ['TALLY_RETAIN_LOG_MS', ['archive', 'retainLogMs'], 'int'],
  ['TALLY_MAX_LOG_BYTES', ['archive', 'maxLogBytes'], 'int'],
  // the distributed mode (SPEC §5)
  ['TALLY_KAFKA_BROKERS', ['distributed', 'brokers'], 'list'],
  ['TALLY_DATABASE_URL', ['distributed', 'databaseUrl'], 'string'],
  ['TALLY_NAMESPACE', ['distributed', 'namespace'], 'string'],
  ['TALLY_ROLE', ['distributed', 'roles'], 'list'],
  ['TALLY_SESSION_TIMEOUT_MS', ['distributed', 'sessionTimeoutMs'], 'int'],
];

function hasPath(o: Json, path: readonly string[]): boolean {
  let node: unknown = o;
  for (const key of path) {
    if (!isObject(node) || !(key in node)) return false;
    node = node[key];
  }
  return true;
}

/**
 * The environment variable a failing config key came from, if it did (set there and not
 * overridden by a flag): the error names what the operator typed.
 */
function envKeyOf(key: string, env: NodeJS.ProcessEnv, overrides: Json): string | undefined {
  const parts = key.split('.');
  for (const [name, path] of ENV_KEYS) {
    const prefix = path.every((k, i) => parts[i] === k);
    if (prefix && env[name] !== undefined && env[name] !== '' && !hasPath(overrides, path)) {
      return name;
    }
  }
  return undefined;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Json, v) : v;
  }
  return out;
}

function setPath(target: Json, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as Json;
  }
  node[path[path.length - 1]!] = value;
}

function fromEnv(env: NodeJS.ProcessEnv): Json {
  const out: Json = {};
  for (const [name, path, kind] of ENV_KEYS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (kind === 'int') {
      if (!/^-?\d+$/.test(raw)) {
        throw new TallyError('TALLY_CONFIG_INVALID', `${name}: must be an integer, got "${raw}"`, {
          field: name,
        });
      }
      value = Number(raw);
    } else if (kind === 'list') {
      value = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    }
    setPath(out, path, value);
  }
  return out;
}

function readFile(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new TallyError('TALLY_CONFIG_INVALID', `config file ${file}: cannot be read`, {
      field: 'config',
      cause,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new TallyError(
      'TALLY_CONFIG_INVALID',
      `config file ${file}: not valid JSON (${(cause as Error).message})`,
      { field: 'config', cause },
    );
  }
  if (!isObject(parsed)) {
    throw new TallyError('TALLY_CONFIG_INVALID', `config file ${file}: must hold a JSON object`, {
      field: 'config',
    });
  }
  return parsed;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export function loadConfig(sources: ConfigSources = {}): Readonly<Config> {
  const env = sources.env ?? process.env;
  const file = sources.file ?? env.TALLY_CONFIG;
  let merged: Json = {};
  if (file) merged = merge(merged, readFile(file));
  merged = merge(merged, fromEnv(env));
  if (sources.overrides) merged = merge(merged, sources.overrides as Json);
  const withDefaults = Value.Default(ConfigSchema, merged);
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first) {
    const key = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    const envKey = envKeyOf(key, env, (sources.overrides ?? {}) as Json);
    if (envKey !== undefined) {
      throw new TallyError(
        'TALLY_CONFIG_INVALID',
        `${envKey} (config ${key}): ${first.message}, got ${JSON.stringify(env[envKey])}`,
        { field: key, details: { env: envKey } },
      );
    }
    throw new TallyError('TALLY_CONFIG_INVALID', `config ${key}: ${first.message}`, {
      field: key,
    });
  }
  return deepFreeze(withDefaults as Config);
}
