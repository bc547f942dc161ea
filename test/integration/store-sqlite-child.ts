// A child for the kill -9 test: commits forever, printing each acknowledged commit's seq.
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';

const store = await openSqliteStore({ file: process.argv[2]! });
let seq = (await store.loadCheckpoint('kill')).offsets.get(0) ?? 0;
for (;;) {
  seq++;
  const rows = Array.from({ length: 50 }, (_, i) => ({ minute: 0, adId: `ad-${i}`, dim: '*', count: seq }));
  await store.commit({
    consumer: 'kill',
    rows,
    top: [],
    late: [],
    offsets: new Map([[0, seq]]),
    watermark: seq,
    stats: { events: 50, duplicates: 0, late: 0 },
    ...(seq % 7 === 0 ? { snapshot: new Uint8Array(1000).fill(seq & 255) } : {}),
  });
  process.stdout.write(`${seq}\n`);
}
