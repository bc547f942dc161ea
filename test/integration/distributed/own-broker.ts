/**
 * A Kafka broker of a test's own: a second one-node KRaft broker on free ports, its files under
 * the test's temp dir, configured and started by scripts/services.mjs exactly as the shared one.
 * For the tests that stop and restart a broker, which the shared one (used by everyone) must
 * never be. Only the pid started here is ever signalled.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './support.js';

interface BrokerAddress {
  host: string;
  port: number;
  controllerPort: number;
}
interface ServicesModule {
  startKafkaBroker(at: BrokerAddress, dir: string): Promise<number>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error())));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface OwnBroker {
  /** host:port, for TALLY_KAFKA_BROKERS and the test's clients */
  brokers: string;
  pid(): number | undefined;
  /** SIGTERM (a controlled shutdown) or SIGKILL; resolves once the JVM is gone */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** starts it again on the same ports and data dir; resolves once it answers */
  start(): Promise<void>;
  /** kills it (if running) and removes its files */
  destroy(): Promise<void>;
}

export async function ownBroker(dir: string): Promise<OwnBroker> {
  const services = (await import(
    pathToFileURL(join(ROOT, 'scripts', 'services.mjs')).href
  )) as ServicesModule;
  const at = { host: '127.0.0.1', port: await freePort(), controllerPort: await freePort() };
  const home = join(dir, 'kafka');
  let pid: number | undefined;
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    if (pid === undefined) return;
    const p = pid;
    if (alive(p)) process.kill(p, signal);
    const deadline = Date.now() + 60_000;
    while (alive(p)) {
      if (Date.now() > deadline) process.kill(p, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
    pid = undefined;
  };
  const start = async () => {
    pid = await services.startKafkaBroker(at, home);
  };
  await start();
  return {
    brokers: `${at.host}:${at.port}`,
    pid: () => pid,
    stop,
    start,
    async destroy() {
      await stop('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    },
  };
}
