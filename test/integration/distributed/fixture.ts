/**
 * The set-up the command-line distributed tests share (scale-out, broker-restart, clicks-intake,
 * cli-ingest): a namespace and a temp dir of their own, the clients they read with, role
 * processes started through `tally start --mode distributed`, a broker of their own when they
 * stop one, and one `after` that undoes all of it. Call distributedFixture() inside `describe`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after } from 'node:test';
import { Consumer, type Admin } from '@platformatic/kafka';
import { dropPgSchema } from '../../../src/adapters/store-pg/index.js';
import { tempDir } from '../../helpers/cli.js';
import { killAll, startRoles, type RoleProcess } from './cli-roles.js';
import { ownBroker, type OwnBroker } from './own-broker.js';
import {
  admin,
  closeHelpers,
  DATABASE_URL,
  deleteNamespaceTopics,
  fetcher,
  forceClose,
  topicNames,
  uniqueNamespace,
} from './support.js';

export interface DistributedFixture {
  readonly ns: string;
  readonly topics: ReturnType<typeof topicNames>;
  readonly tmp: { dir: string; cleanup(): void };
  /** every role process start() started; whatever still runs is SIGKILLed at the end */
  readonly procs: RoleProcess[];
  /** an admin client of the shared broker (made on first use) */
  admin(): Admin;
  /** a fetch-only consumer of the broker the test uses (made on first use) */
  reader(): Consumer;
  /**
   * A broker of the test's own (own-broker.ts) under the temp dir; from then on start() and
   * reader() use it. Destroyed at the end.
   */
  ownBroker(): Promise<OwnBroker>;
  /** `tally start --mode distributed --role <roles>` in the namespace, a data dir of its own */
  start(roles: string, o?: { env?: NodeJS.ProcessEnv; config?: string }): Promise<RoleProcess>;
  /** SIGTERM; it must exit with 0 within `withinMs`, or what it said is printed and the test fails */
  stop(name: string, p: RoleProcess, withinMs?: number): Promise<void>;
  /** prints the tail of every role's stderr (for a failure being reported) */
  printRoles(): void;
}

export function distributedFixture(what: string): DistributedFixture {
  const ns = uniqueNamespace(what);
  const tmp = tempDir(what);
  const procs: RoleProcess[] = [];
  let adminClient: Admin | undefined;
  let readerClient: Consumer | undefined;
  let broker: OwnBroker | undefined;
  let n = 0;
  // TALLY_TEST_KEEP=1 leaves the namespace's schema and topics, to look at
  const keep = Boolean(process.env.TALLY_TEST_KEEP);

  after(async () => {
    killAll(procs);
    if (readerClient !== undefined) await forceClose(readerClient).catch(() => undefined);
    await closeHelpers();
    if (broker !== undefined) {
      await broker.destroy();
    } else if (!keep) {
      // the shared broker: the namespace's topics go
      adminClient ??= admin();
      await deleteNamespaceTopics(adminClient, ns);
    }
    await adminClient?.close();
    if (!keep) await dropPgSchema(DATABASE_URL, ns);
    tmp.cleanup();
  });

  return {
    ns,
    topics: topicNames(ns),
    tmp,
    procs,
    admin() {
      adminClient ??= admin();
      return adminClient;
    },
    reader() {
      readerClient ??=
        broker === undefined
          ? fetcher(`${ns}-check`)
          : new Consumer({
              clientId: `${ns}-check`,
              groupId: `${ns}-check-unused`,
              bootstrapBrokers: [broker.brokers],
              retryDelay: 100,
            });
      return readerClient;
    },
    async ownBroker() {
      assert.equal(broker, undefined, 'one broker of its own per test');
      broker = await ownBroker(tmp.dir);
      return broker;
    },
    async start(roles, o = {}) {
      const p = await startRoles(roles, {
        namespace: ns,
        dataDir: join(tmp.dir, `p${n++}`),
        ...(o.config !== undefined ? { config: o.config } : {}),
        env: {
          ...(broker !== undefined ? { TALLY_KAFKA_BROKERS: broker.brokers } : {}),
          ...o.env,
        },
      });
      procs.push(p);
      return p;
    },
    async stop(name, p, withinMs = 60_000) {
      // a timer left pending would hold the test file's process open for the whole wait
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        p.stop(),
        new Promise<string>((r) => {
          timer = setTimeout(() => r(`no exit in ${withinMs / 1000} s`), withinMs);
        }),
      ]).finally(() => clearTimeout(timer));
      if (code !== 0) console.error(`--- ${name}: ${code}\n${p.stderr().slice(-6_000)}`);
      assert.equal(code, 0, `${name} on SIGTERM`);
    },
    printRoles() {
      for (const p of procs) console.error(`--- ${p.base}\n${p.stderr().slice(-3_000)}`);
    },
  };
}
