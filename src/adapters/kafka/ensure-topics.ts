/**
 * Creating a deployment's topics up front, each with its partition count; several processes
 * may start at once, so "already exists" is success, and a topic with another count is a
 * config error naming the count.
 */
import { Admin } from '@platformatic/kafka';
import { TallyError } from '../../core/errors.js';

function ids(e: unknown, depth = 0): string[] {
  if (e === null || typeof e !== 'object' || depth > 6) return [];
  const o = e as { apiId?: unknown; errors?: unknown[]; cause?: unknown };
  const out = typeof o.apiId === 'string' ? [o.apiId] : [];
  for (const inner of o.errors ?? []) out.push(...ids(inner, depth + 1));
  out.push(...ids(o.cause, depth + 1));
  return out;
}

export async function ensureKafkaTopics(
  brokers: string[],
  topics: ReadonlyArray<{ name: string; partitions: number }>,
): Promise<void> {
  const admin = new Admin({ clientId: 'tally-topics', bootstrapBrokers: brokers });
  try {
    const existing = new Set(await admin.listTopics());
    for (const t of topics) {
      if (existing.has(t.name)) continue;
      await admin
        .createTopics({ topics: [t.name], partitions: t.partitions, replicas: -1 })
        .catch((e: unknown) => {
          if (!ids(e).includes('TOPIC_ALREADY_EXISTS')) throw e;
        });
    }
    const names = topics.map((t) => t.name);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const md = await admin.metadata({ topics: names, forceUpdate: true });
      let ready = true;
      for (const t of topics) {
        const m = md.topics.get(t.name);
        if (m !== undefined && m.partitionsCount !== t.partitions) {
          throw new TallyError(
            'TALLY_CONFIG_INVALID',
            `the Kafka topic ${t.name} has ${m.partitionsCount} partitions, the config says ${t.partitions} (log.partitions)`,
            { field: 'partitions' },
          );
        }
        // the metadata can lag the creation: every partition needs a leader before it is used
        if (m === undefined || !m.partitions.every((p) => p.leader >= 0)) ready = false;
      }
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`topics ${names.join(', ')}: no leader yet`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.close();
  }
}
