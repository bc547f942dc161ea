#!/usr/bin/env node
/**
 * `npm run services:up` / `npm run services:down` (SPEC §5), also `node scripts/services.mjs
 * status`: the local Apache Kafka broker and PostgreSQL server of the distributed mode, at the
 * defaults of TALLY_KAFKA_BROKERS (127.0.0.1:9092) and TALLY_DATABASE_URL
 * (postgres://tally@127.0.0.1:5433/tally).
 *
 * - Kafka: one node in KRaft mode (broker and controller in one JVM, -Xmx512m) on the
 *   machine's Java 17, from Maven Central jars fetched once by Maven (scripts/services/pom.xml)
 *   into .services/kafka/libs. Listeners on 127.0.0.1 only (9092 clients, 9093 controller).
 * - PostgreSQL 15 from Debian's packages, its own cluster in .services/postgres/data owned by
 *   the `postgres` user (initdb refuses to run as root), port 5433, 127.0.0.1 only, a `tally`
 *   role and database. Authentication is `trust` for 127.0.0.1: a local development service
 *   that nothing off this machine can reach; never a production setting.
 *
 * Idempotent: whatever already answers on 9092 / 5433 is reused, whoever started it. `down`
 * stops only what `up` started here (PID files), and leaves the data for the next `up`.
 * What is missing (Java, Maven, PostgreSQL) is installed with apt-get when running as root.
 */
import { Buffer } from 'node:buffer';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  realpathSync,
} from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STATE = join(ROOT, '.services');
const RECIPES = join(ROOT, 'scripts', 'services');

export const KAFKA = { host: '127.0.0.1', port: 9092, controllerPort: 9093 };
export const POSTGRES = { host: '127.0.0.1', port: 5433, user: 'tally', database: 'tally' };

// generous: a cold JVM on a loaded 2-core machine shared with other builds
const KAFKA_READY_MS = 120_000;
const KAFKA_STOP_MS = 60_000;
const PG_READY_MS = 60_000;

const K = {
  dir: join(STATE, 'kafka'),
  libs: join(STATE, 'kafka', 'libs'),
  data: join(STATE, 'kafka', 'data'),
  logs: join(STATE, 'kafka', 'logs'),
  config: join(STATE, 'kafka', 'server.properties'),
  pid: join(STATE, 'kafka', 'kafka.pid'),
};
/** Where the PostgreSQL cluster lives (see postgresHome): recorded by `up` for `down`. */
const PG_HOME_FILE = join(STATE, 'postgres-home');

const rel = (p) => relative(process.cwd(), p) || '.';
const say = (msg) => console.error(`services: ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

class ServiceError extends Error {}
const fail = (msg) => {
  throw new ServiceError(msg);
};

// ---------------------------------------------------------------- processes and files

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function readPid(file) {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid is alive and its command line contains `marker` (not a recycled pid). */
function runningAs(pid, marker) {
  if (pid === undefined || !alive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(marker);
  } catch {
    return true; // no /proc: trust the pid file
  }
}

function tail(file, lines = 25) {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function mkdirp(dir) {
  mkdirSync(dir, { recursive: true });
}

/** One `services:up`/`down` at a time per checkout (npm test and a manual call may overlap). */
async function withLock(fn) {
  mkdirp(STATE);
  chmodSync(STATE, 0o755); // the postgres user must be able to pass through to its data dir
  const lock = join(STATE, '.lock');
  let told = false;
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const holder = readPid(join(lock, 'pid'));
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      if ((holder === undefined && age > 10_000) || (holder !== undefined && !alive(holder))) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) fail(`another services:up/down holds ${rel(lock)} for too long`);
      if (!told) say(`waiting for another services:up/down (pid ${holder ?? '?'}) to finish`);
      told = true;
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- installing what is missing

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

let aptUpdated = false;
function aptInstall(packages, why) {
  const list = packages.join(' ');
  if (!isRoot() || !has('apt-get')) {
    fail(`${why}; install it first (Debian: apt-get install -y ${list}), then run this again`);
  }
  say(`installing ${list} with apt-get (${why})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', ...packages], { env, encoding: 'utf8' });
  let r = install();
  if (r.status !== 0 && !aptUpdated) {
    aptUpdated = true;
    spawnSync('apt-get', ['update', '-q'], { env, stdio: 'ignore' });
    r = install();
  }
  if (r.status !== 0) {
    fail(
      `apt-get install ${list} failed:\n${(r.stdout + r.stderr).trim().split('\n').slice(-15).join('\n')}`,
    );
  }
}

function javaMajor() {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (r.status !== 0) return 0;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.stderr + r.stdout);
  if (!m) return 0;
  return m[1] === '1' ? Number(m[2]) : Number(m[1]);
}

function ensureJava() {
  if (javaMajor() >= 17) return;
  aptInstall(['openjdk-17-jre-headless'], 'the Kafka broker needs Java 17');
  if (javaMajor() < 17) fail('java 17 is still not on the PATH after installing it');
}

function ensureMaven() {
  if (has('mvn')) return;
  aptInstall(['maven'], 'the Kafka jars are fetched with Maven');
}

// ---------------------------------------------------------------- Kafka

/**
 * One request to the broker in Kafka's wire protocol (request header v1, response header v0),
 * so that the ready check needs nothing installed. Resolves the response body, or undefined.
 */
function kafkaCall(apiKey, version, body, timeoutMs = 2000, at = KAFKA) {
  return new Promise((resolvePromise) => {
    const clientId = Buffer.from('tally-services');
    const header = Buffer.alloc(10);
    header.writeInt16BE(apiKey, 0);
    header.writeInt16BE(version, 2);
    header.writeInt32BE(1, 4);
    header.writeInt16BE(clientId.length, 8);
    const payload = Buffer.concat([header, clientId, body]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length, 0);
    const socket = connect({ host: at.host, port: at.port });
    let got = Buffer.alloc(0);
    let settled = false;
    const done = (v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('connect', () => socket.write(Buffer.concat([size, payload])));
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 8 && got.length >= 4 + got.readInt32BE(0)) {
        done(got.subarray(8, 4 + got.readInt32BE(0))); // past the size and correlation id
      }
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/** A Kafka broker answers ApiVersions and lists at least one live broker in its metadata. */
export async function kafkaAnswers(at = KAFKA) {
  const versions = await kafkaCall(18, 0, Buffer.alloc(0), 2000, at);
  if (versions === undefined || versions.length < 2 || versions.readInt16BE(0) !== 0) return false;
  // Metadata v4 (the oldest that Kafka 4 keeps): no topics, no auto-creation
  const metadata = await kafkaCall(3, 4, Buffer.from([0, 0, 0, 0, 0]), 2000, at);
  return metadata !== undefined && metadata.length >= 8 && metadata.readInt32BE(4) > 0;
}

function portOpen(port, timeoutMs = 1000) {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (v) => {
      socket.destroy();
      resolvePromise(v);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function fileHash(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The broker's jars, fetched by Maven once; a stamp holds the hash of the pom they came from. */
function ensureKafkaJars() {
  const pom = join(RECIPES, 'pom.xml');
  const stamp = join(K.libs, '.fetched');
  const want = fileHash(pom);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  ensureMaven();
  mkdirp(K.logs);
  const log = join(K.logs, 'maven.log');
  const staging = `${K.libs}.partial`;
  rmSync(staging, { recursive: true, force: true });
  // Maven runs on a copy of the pom, so that its target/ lands under .services, not in scripts/
  const work = join(K.dir, 'maven');
  mkdirp(work);
  copyFileSync(pom, join(work, 'pom.xml'));
  say(`fetching the Kafka broker's jars with Maven (first run only; log: ${rel(log)})`);
  const started = Date.now();
  const out = openSync(log, 'w');
  const r = spawnSync(
    'mvn',
    [
      '-B',
      '--no-transfer-progress',
      '-f',
      join(work, 'pom.xml'),
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${staging}`,
    ],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  if (r.status !== 0)
    fail(`Maven could not fetch the Kafka jars (log: ${rel(log)}):\n${tail(log)}`);
  const jars = readdirSync(staging).filter((f) => f.endsWith('.jar'));
  if (!jars.some((f) => f.startsWith('kafka_2.13-'))) fail(`no kafka_2.13 jar in ${rel(staging)}`);
  rmSync(K.libs, { recursive: true, force: true });
  renameSync(staging, K.libs);
  writeFileSync(stamp, want);
  say(`fetched ${jars.length} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Where a broker listens and keeps its files: the shared one (KAFKA, .services/kafka), or one a
 * test starts for itself (startKafkaBroker) so that it may stop and restart it.
 */
function brokerLayout(at, dir) {
  return {
    at,
    dir,
    data: join(dir, 'data'),
    logs: join(dir, 'logs'),
    config: join(dir, 'server.properties'),
  };
}

function serverProperties(b) {
  const { at } = b;
  return [
    '# written by scripts/services.mjs: a one-node KRaft broker for development and tests',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${at.host}:${at.controllerPort}`,
    `listeners=PLAINTEXT://${at.host}:${at.port},CONTROLLER://${at.host}:${at.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${at.host}:${at.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${b.data}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    // one broker: the internal topics cannot have more replicas than that
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=10',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // topics are created up front by whoever uses them (the namespace's topics, tests)
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'log.retention.hours=24',
    '',
  ].join('\n');
}

/** base64url of 16 random bytes, as Kafka's Uuid (never starting with '-': it reads as a flag) */
function clusterId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function javaArgs(logs, main, ...args) {
  return [
    '-Xms128m',
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dkafka.logs.dir=${logs}`,
    `-Dlog4j2.configurationFile=${join(RECIPES, 'log4j2.xml')}`,
    '-cp',
    `${K.libs}/*`,
    main,
    ...args,
  ];
}

function ourKafkaPid() {
  const pid = readPid(K.pid);
  return runningAs(pid, K.config) ? pid : undefined;
}

async function waitForKafka(pid) {
  const log = join(K.logs, 'server.log');
  say(
    `waiting for Kafka to answer on ${KAFKA.host}:${KAFKA.port} (pid ${pid}, up to ${KAFKA_READY_MS / 1000} s; log: ${rel(log)})`,
  );
  const deadline = Date.now() + KAFKA_READY_MS;
  while (Date.now() < deadline) {
    if (await kafkaAnswers()) return;
    if (!alive(pid)) {
      fail(
        `Kafka (pid ${pid}) exited before it answered; ${rel(join(K.logs, 'kafka.out'))}:\n` +
          `${tail(join(K.logs, 'kafka.out'), 10)}\n${rel(log)}:\n${tail(log)}`,
      );
    }
    await sleep(300);
  }
  fail(
    `Kafka (pid ${pid}) did not answer on ${KAFKA.port} within ${KAFKA_READY_MS / 1000} s; ${rel(log)}:\n${tail(log)}`,
  );
}

async function ensureKafka() {
  const at = `${KAFKA.host}:${KAFKA.port}`;
  if (await kafkaAnswers()) {
    const pid = ourKafkaPid();
    say(`Kafka: reusing the broker at ${at}${pid ? ` (started here, pid ${pid})` : ''}`);
    return { started: false };
  }
  const running = ourKafkaPid();
  if (running !== undefined) {
    await waitForKafka(running); // started by an earlier `up`, still starting
    return { started: false };
  }
  for (const port of [KAFKA.port, KAFKA.controllerPort]) {
    if (await portOpen(port)) {
      fail(
        `127.0.0.1:${port} is taken by something that does not answer as a Kafka broker; free it and run this again`,
      );
    }
  }
  await waitForExit(readPid(K.pid), 'a previous Kafka');
  ensureJava();
  ensureKafkaJars();
  const child = spawnBroker(brokerLayout(KAFKA, K.dir));
  writeFileSync(K.pid, `${child.pid}\n`);
  await waitForKafka(child.pid);
  say(`Kafka: started at ${at} (pid ${child.pid}; data: ${rel(K.data)})`);
  return { started: true };
}

/**
 * Writes the broker's server.properties, formats its data dir the first time (KRaft), and starts
 * the JVM in a session of its own (a Ctrl-C on npm does not reach it). The one definition of how
 * a broker is configured and started, for the shared broker and a test's own.
 */
function spawnBroker(b) {
  mkdirp(b.data);
  mkdirp(b.logs);
  writeFileSync(b.config, serverProperties(b));
  if (!existsSync(join(b.data, 'meta.properties'))) {
    const log = join(b.logs, 'format.log');
    const r = spawnSync(
      'java',
      javaArgs(b.logs, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', b.config),
      { encoding: 'utf8' },
    );
    writeFileSync(log, (r.stdout ?? '') + (r.stderr ?? ''));
    if (r.status !== 0)
      fail(`kafka.tools.StorageTool format failed (log: ${rel(log)}):\n${tail(log)}`);
  }
  const out = openSync(join(b.logs, 'kafka.out'), 'a');
  const child = spawn('java', javaArgs(b.logs, 'kafka.Kafka', b.config), {
    cwd: b.dir,
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  if (child.pid === undefined) fail('could not start java');
  child.unref();
  return child;
}

/**
 * A one-node KRaft broker of the caller's own, configured as the shared one, listening on
 * `at` (host, port, controllerPort) with its files under `dir`: for a test that stops and
 * restarts a broker, which the shared one must never be. Starting it again on the same `dir`
 * keeps its data (formatted once). Resolves its pid once it answers.
 */
export async function startKafkaBroker(at, dir) {
  await withLock(async () => {
    ensureJava();
    ensureKafkaJars();
  });
  const b = brokerLayout(at, dir);
  const child = spawnBroker(b);
  const deadline = Date.now() + KAFKA_READY_MS;
  while (!(await kafkaAnswers(at))) {
    if (!alive(child.pid))
      fail(
        `Kafka (pid ${child.pid}) exited before it answered:\n${tail(join(b.logs, 'server.log'))}`,
      );
    if (Date.now() > deadline) {
      process.kill(child.pid, 'SIGKILL');
      fail(
        `Kafka (pid ${child.pid}) did not answer on ${at.port}:\n${tail(join(b.logs, 'server.log'))}`,
      );
    }
    await sleep(200);
  }
  return child.pid;
}

async function stopKafka() {
  const pid = readPid(K.pid);
  if (pid === undefined || !runningAs(pid, K.config)) {
    rmSync(K.pid, { force: true });
    say('Kafka: nothing started here is running');
    return;
  }
  say(`Kafka: stopping pid ${pid} (controlled shutdown, up to ${KAFKA_STOP_MS / 1000} s)`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + KAFKA_STOP_MS;
  while (alive(pid) && Date.now() < deadline) await sleep(200);
  if (alive(pid)) {
    say(`Kafka: pid ${pid} did not stop in time; killing it`);
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(100);
  }
  rmSync(K.pid, { force: true });
  say('Kafka: stopped');
}

// ---------------------------------------------------------------- PostgreSQL

function pgBin() {
  const preferred = '/usr/lib/postgresql/15/bin';
  if (existsSync(join(preferred, 'postgres'))) return preferred;
  // another major version from the same packages will do for development; say so
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) return undefined;
  say(`PostgreSQL 15 is not installed; using ${versions[0]} from ${root}/${versions[0]}`);
  return join(root, versions[0], 'bin');
}

function ensurePgBin() {
  let bin = pgBin();
  if (bin === undefined) {
    aptInstall(['postgresql'], 'the distributed mode stores its aggregates in PostgreSQL');
    bin = pgBin();
  }
  if (bin === undefined) fail('PostgreSQL is still not in /usr/lib/postgresql after installing it');
  return bin;
}

/** argv that runs a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root). */
function asPostgres(cmd, args) {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/**
 * The directory holding the cluster's data/ and log: .services/postgres, unless the postgres
 * user cannot reach it (a checkout under a private directory), then one of its own under
 * /var/lib/postgresql, named for this checkout.
 */
function postgresHome({ choose }) {
  if (existsSync(PG_HOME_FILE)) return readFileSync(PG_HOME_FILE, 'utf8').trim();
  if (!choose) return undefined;
  let home = join(STATE, 'postgres');
  if (isRoot()) {
    const reach = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', STATE]);
    if (reach.status !== 0) {
      const tag = createHash('sha256').update(ROOT).digest('hex').slice(0, 12);
      home = `/var/lib/postgresql/tally-services-${tag}`;
      say(`the postgres user cannot reach ${rel(STATE)}; its cluster goes to ${home}`);
    }
  }
  writeFileSync(PG_HOME_FILE, `${home}\n`);
  return home;
}

/** PostgreSQL answers an SSLRequest with one byte, 'S' or 'N': a wire check needing nothing installed. */
function postgresAnswers(timeoutMs = 2000) {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: POSTGRES.host, port: POSTGRES.port });
    const done = (v) => {
      socket.destroy();
      resolvePromise(v);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])));
    socket.once('data', (d) => done(d.length === 1 && (d[0] === 0x53 || d[0] === 0x4e)));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

async function pgQuery(user, database, sql) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: POSTGRES.host,
    port: POSTGRES.port,
    user,
    database,
    connectionTimeoutMillis: 5000,
  });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The `tally` role and database exist and accept a connection; created as `postgres` if not. */
async function ensureTallyDatabase() {
  try {
    await pgQuery(POSTGRES.user, POSTGRES.database, 'select 1');
    return;
  } catch (e) {
    if (!/does not exist/.test(String(e.message))) throw e;
  }
  try {
    const role = await pgQuery(
      'postgres',
      'postgres',
      `select 1 from pg_roles where rolname = 'tally'`,
    );
    if (role.rowCount === 0) await pgQuery('postgres', 'postgres', 'create role tally login');
    const db = await pgQuery(
      'postgres',
      'postgres',
      `select 1 from pg_database where datname = 'tally'`,
    );
    if (db.rowCount === 0)
      await pgQuery('postgres', 'postgres', 'create database tally owner tally');
    say('PostgreSQL: created the tally role and database');
  } catch (e) {
    fail(
      `PostgreSQL at ${POSTGRES.host}:${POSTGRES.port} has no tally role/database and the postgres ` +
        `superuser could not create them (${e.message})`,
    );
  }
  await pgQuery(POSTGRES.user, POSTGRES.database, 'select 1');
}

/**
 * A server killed a moment ago can linger (exiting, or a zombie not reaped yet) and still
 * hold its lock file as far as a new server can tell: wait for it to be gone before starting.
 */
async function waitForExit(pid, what) {
  if (pid === undefined || !alive(pid)) return;
  say(`waiting for ${what} (pid ${pid}) to exit`);
  const deadline = Date.now() + 30_000;
  while (alive(pid)) {
    if (Date.now() > deadline)
      fail(`${what} (pid ${pid}) is still there after 30 s; stop it and run this again`);
    await sleep(200);
  }
}

function ourPostgresPid(home) {
  if (home === undefined) return undefined;
  const pid = readPid(join(home, 'data', 'postmaster.pid'));
  return runningAs(pid, 'postgres') ? pid : undefined;
}

function postgresConf() {
  return [
    '',
    '# scripts/services.mjs (npm run services:up): a local development server',
    `port = ${POSTGRES.port}`,
    `listen_addresses = '${POSTGRES.host}'`,
    "unix_socket_directories = ''",
    "timezone = 'UTC'",
    '',
  ].join('\n');
}

const PG_HBA = [
  '# scripts/services.mjs: a development server that listens on 127.0.0.1 only; trust on',
  '# loopback, no other connection accepted. Not a production setting.',
  'host all all 127.0.0.1/32 trust',
  '',
].join('\n');

function run(argv, what, log) {
  const [cmd, args] = argv;
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (log !== undefined) writeFileSync(log, (r.stdout ?? '') + (r.stderr ?? ''), { flag: 'a' });
  if (r.status !== 0) {
    fail(
      `${what} failed:\n${((r.stdout ?? '') + (r.stderr ?? '')).trim().split('\n').slice(-15).join('\n')}`,
    );
  }
}

/** pg_ctl start, in a session of its own so that a Ctrl-C on npm does not reach the server. */
function pgCtlStart(bin, data, log) {
  const [cmd, args] = asPostgres(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-l',
    log,
    '-w',
    '-t',
    String(PG_READY_MS / 1000),
    'start',
  ]);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolvePromise() : reject(new ServiceError(out.trim())),
    );
  });
}

async function ensurePostgres() {
  const at = `${POSTGRES.host}:${POSTGRES.port}`;
  if (await postgresAnswers()) {
    const pid = ourPostgresPid(postgresHome({ choose: false }));
    say(`PostgreSQL: reusing the server at ${at}${pid ? ` (started here, pid ${pid})` : ''}`);
    await ensureTallyDatabase();
    return { started: false };
  }
  if (await portOpen(POSTGRES.port)) {
    fail(
      `127.0.0.1:${POSTGRES.port} is taken by something that does not answer as PostgreSQL; free it and run this again`,
    );
  }
  const bin = ensurePgBin();
  const home = postgresHome({ choose: true });
  const data = join(home, 'data');
  const log = join(home, 'postgres.log');
  mkdirp(home);
  chmodSync(home, 0o755);
  if (isRoot()) run(['chown', ['-R', 'postgres:postgres', home]], `chown postgres ${home}`);
  if (!existsSync(join(data, 'PG_VERSION'))) {
    say(`PostgreSQL: creating a cluster in ${rel(data)}`);
    rmSync(data, { recursive: true, force: true }); // a half-made one from an interrupted run
    run(
      asPostgres(join(bin, 'initdb'), [
        '-D',
        data,
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--no-locale',
        '--auth=trust',
      ]),
      'initdb',
      join(home, 'initdb.log'),
    );
    // appended and written as root, then handed back to postgres
    writeFileSync(join(data, 'postgresql.conf'), postgresConf(), { flag: 'a' });
    writeFileSync(join(data, 'pg_hba.conf'), PG_HBA);
    if (isRoot()) run(['chown', ['-R', 'postgres:postgres', data]], `chown postgres ${data}`);
  }
  if (ourPostgresPid(home) === undefined) {
    await waitForExit(readPid(join(data, 'postmaster.pid')), 'a previous PostgreSQL');
    say(`PostgreSQL: starting on ${at} (up to ${PG_READY_MS / 1000} s; log: ${rel(log)})`);
    try {
      await pgCtlStart(bin, data, log);
    } catch (e) {
      fail(`PostgreSQL did not start (${e.message}); ${rel(log)}:\n${tail(log)}`);
    }
  }
  const deadline = Date.now() + PG_READY_MS;
  while (!(await postgresAnswers())) {
    if (Date.now() > deadline)
      fail(`PostgreSQL did not answer on ${at}; ${rel(log)}:\n${tail(log)}`);
    await sleep(200);
  }
  await ensureTallyDatabase();
  say(`PostgreSQL: started at ${at} (pid ${ourPostgresPid(home) ?? '?'}; data: ${rel(data)})`);
  return { started: true };
}

async function stopPostgres() {
  const home = postgresHome({ choose: false });
  const pid = ourPostgresPid(home);
  if (home === undefined || pid === undefined) {
    say('PostgreSQL: nothing started here is running');
    return;
  }
  say(`PostgreSQL: stopping pid ${pid}`);
  const bin = pgBin();
  if (bin === undefined) fail('pg_ctl is gone; stop the server by hand');
  run(
    asPostgres(join(bin, 'pg_ctl'), [
      '-D',
      join(home, 'data'),
      '-m',
      'fast',
      '-w',
      '-t',
      '60',
      'stop',
    ]),
    'pg_ctl stop',
  );
  say('PostgreSQL: stopped');
}

// ---------------------------------------------------------------- entry points

/**
 * Brings up (or reuses) both services. Resolves which ones this call started, for a caller
 * that wants to leave the machine as it found it (scripts/test.mjs).
 */
export async function servicesUp() {
  return withLock(async () => {
    const began = Date.now();
    // both at once (the JVM starts while PostgreSQL does); both settle before any failure counts
    const [k, p] = await Promise.allSettled([ensureKafka(), ensurePostgres()]);
    const failed = [k, p].filter((r) => r.status === 'rejected').map((r) => r.reason);
    if (failed.length > 0) {
      if (failed.length > 1) say(String(failed[1]?.message ?? failed[1]));
      throw failed[0];
    }
    const kafka = k.value;
    const postgres = p.value;
    say(
      `ready in ${((Date.now() - began) / 1000).toFixed(1)} s: Kafka ${KAFKA.host}:${KAFKA.port}, PostgreSQL postgres://${POSTGRES.user}@${POSTGRES.host}:${POSTGRES.port}/${POSTGRES.database}`,
    );
    return { kafka: kafka.started, postgres: postgres.started };
  });
}

/** Stops what `servicesUp` started here (all of it, or only the ones named). */
export async function servicesDown(which = { kafka: true, postgres: true }) {
  return withLock(async () => {
    if (which.kafka) await stopKafka();
    if (which.postgres) await stopPostgres();
  });
}

async function status() {
  const k = await kafkaAnswers();
  const kp = ourKafkaPid();
  console.log(
    `kafka     ${KAFKA.host}:${KAFKA.port}  ${k ? 'answering' : 'down'}${kp ? `, started here (pid ${kp})` : ''}`,
  );
  const p = await postgresAnswers();
  const pp = ourPostgresPid(postgresHome({ choose: false }));
  console.log(
    `postgres  ${POSTGRES.host}:${POSTGRES.port}  ${p ? 'answering' : 'down'}${pp ? `, started here (pid ${pp})` : ''}`,
  );
}

/** Prints the Kafka jars' classpath (fetching them if needed), for tests that run Java clients. */
async function classpath() {
  await withLock(async () => {
    ensureJava();
    ensureKafkaJars();
  });
  console.log(`${K.libs}/*`);
}

if (
  process.argv[1] !== undefined &&
  // realpath: the other Node versions' test trees reach this file through a symlink
  import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href
) {
  const command = process.argv[2];
  const commands = { up: servicesUp, down: () => servicesDown(), status, classpath };
  const fn = commands[command];
  if (fn === undefined) {
    console.error('usage: node scripts/services.mjs up|down|status|classpath');
    process.exit(2);
  }
  fn().catch((e) => {
    console.error(`services: ${e instanceof ServiceError ? e.message : (e.stack ?? e)}`);
    process.exit(1);
  });
}
