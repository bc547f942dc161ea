import { Admin } from '@platformatic/kafka';

/**
 * Creates the topics that do not exist yet (replication: the broker's default); an existing
 * topic is left as it is.
 */
export async function ensureTopics(
  brokers: string[],
  topics: ReadonlyArray<{ topic: string; partitions: number }>,
): Promise<void> {
  const admin = new Admin({ clientId: 'tally-topics', bootstrapBrokers: brokers });
  try {
    const existing = new Set(await admin.listTopics());
    for (const t of topics) {
      if (existing.has(t.topic)) continue;
      await admin.createTopics({ topics: [t.topic], partitions: t.partitions, replicas: -1 });
    }
  } finally {
    await admin.close();
  }
}
