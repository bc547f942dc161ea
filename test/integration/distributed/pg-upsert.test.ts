/**
 * The writer role's commit against the real PostgreSQL: a cycle's aggregate rows upserted
 * with one `unnest` statement, together with the consumed offsets, in ONE transaction; the
 * database's offsets are the truth, and an update that does not find the offsets where the
 * writer left them refuses the whole cycle (a stale or second writer).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DATABASE_URL, uniqueNamespace } from './support.js';

const schema = uniqueNamespace('pg');
const TOPIC = `${schema}.aggregates`;
const PARTITIONS = 4;
const client = new pg.Client({ connectionString: DATABASE_URL });

interface Rows {
  minute: number[];
  dim: string[];
  ad: string[];
  count: number[];
}

interface Offsets {
  partition: number[];
  expected: number[];
  next: number[];
}

class StaleWriter extends Error {}

/** One writer cycle: the offsets advance from where this writer left them, and the rows land. */
async function commitCycle(rows: Rows, offsets: Offsets): Promise<void> {
  await client.query('begin');
  try {
    const moved = await client.query(
      `update "${schema}".offsets o set next_offset = u.next
         from unnest($1::int[], $2::bigint[], $3::bigint[]) as u(partition, expected, next)
        where o.topic = $4 and o.partition = u.partition and o.next_offset = u.expected`,
      [offsets.partition, offsets.expected, offsets.next, TOPIC],
    );
    if (moved.rowCount !== offsets.partition.length) {
      throw new StaleWriter(
        `offsets moved by someone else (${moved.rowCount} of ${offsets.partition.length})`,
      );
    }
    await client.query(
      `insert into "${schema}".aggregates (minute, dim, ad_id, count)
       select * from unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])
       on conflict (minute, dim, ad_id) do update set count = excluded.count`,
      [rows.minute, rows.dim, rows.ad, rows.count],
    );
    await client.query('commit');
  } catch (e) {
    await client.query('rollback');
    throw e;
  }
}

async function offsetsNow(): Promise<number[]> {
  const r = await client.query<{ next_offset: string }>(
    `select next_offset from "${schema}".offsets where topic = $1 order by partition`,
    [TOPIC],
  );
  return r.rows.map((x) => Number(x.next_offset));
}

async function rowCount(): Promise<number> {
  const r = await client.query<{ n: string }>(`select count(*) as n from "${schema}".aggregates`);
  return Number(r.rows[0]?.n);
}

function rowsFor(minute: number, ads: number, count: (i: number) => number): Rows {
  const rows: Rows = { minute: [], dim: [], ad: [], count: [] };
  for (let i = 0; i < ads; i++) {
    rows.minute.push(minute);
    rows.dim.push(i % 2 === 0 ? '' : 'country=US');
    rows.ad.push(`ad-${i}`);
    rows.count.push(count(i));
  }
  return rows;
}

before(async () => {
  await client.connect();
  await client.query(`create schema "${schema}"`);
  await client.query(
    `create table "${schema}".aggregates (
       minute bigint not null, dim text not null, ad_id text not null, count bigint not null,
       primary key (minute, dim, ad_id))`,
  );
  await client.query(
    `create table "${schema}".offsets (
       topic text not null, partition int not null, next_offset bigint not null,
       primary key (topic, partition))`,
  );
  await client.query(
    `insert into "${schema}".offsets select $1, p, 0 from generate_series(0, $2 - 1) p`,
    [TOPIC, PARTITIONS],
  );
});

after(async () => {
  await client.query(`drop schema if exists "${schema}" cascade`);
  await client.end();
});

const ALL = [0, 1, 2, 3];

describe('PostgreSQL: rows and offsets in one transaction', () => {
  it('commits the rows and advances the offsets together; an upsert replaces a corrected count', async () => {
    await commitCycle(
      rowsFor(1000, 100, (i) => i + 1),
      { partition: ALL, expected: [0, 0, 0, 0], next: [10, 20, 30, 40] },
    );
    assert.deepEqual(await offsetsNow(), [10, 20, 30, 40]);
    assert.equal(await rowCount(), 100);
    await commitCycle(
      rowsFor(1000, 10, () => 7),
      { partition: [0], expected: [10], next: [11] },
    );
    const r = await client.query<{ count: string }>(
      `select count from "${schema}".aggregates where minute = 1000 and ad_id = 'ad-3' and dim = 'country=US'`,
    );
    assert.equal(Number(r.rows[0]?.count), 7, 'the absolute corrected count replaced 4');
    assert.equal(await rowCount(), 100);
    assert.deepEqual(await offsetsNow(), [11, 20, 30, 40]);
  });

  it('a failure inside the cycle leaves neither rows nor offsets', async () => {
    const before = await offsetsNow();
    const rows = rowsFor(2000, 50, () => 1);
    rows.ad[49] = null as unknown as string; // violates NOT NULL after the offsets moved
    await assert.rejects(
      commitCycle(rows, { partition: ALL, expected: before, next: before.map((o) => o + 5) }),
      /null value/,
    );
    assert.deepEqual(await offsetsNow(), before);
    const r = await client.query(`select 1 from "${schema}".aggregates where minute = 2000`);
    assert.equal(r.rowCount, 0);
  });

  it('refuses a writer whose offsets are stale (a second or restarted writer), writing nothing', async () => {
    const now = await offsetsNow();
    await assert.rejects(
      commitCycle(
        rowsFor(3000, 10, () => 1),
        { partition: [1, 2], expected: [now[1] as number, (now[2] as number) - 1], next: [99, 99] },
      ),
      StaleWriter,
    );
    assert.deepEqual(await offsetsNow(), now);
    assert.equal(
      (await client.query(`select 1 from "${schema}".aggregates where minute = 3000`)).rowCount,
      0,
    );
  });

  it('refuses one statement that upserts the same key twice: a cycle must coalesce its rows by key first', async () => {
    const now = await offsetsNow();
    const rows = rowsFor(4000, 3, () => 1);
    rows.minute.push(4000);
    rows.dim.push('');
    rows.ad.push('ad-0');
    rows.count.push(2);
    await assert.rejects(
      commitCycle(rows, {
        partition: [0],
        expected: [now[0] as number],
        next: [(now[0] as number) + 1],
      }),
      /cannot affect row a second time/,
    );
    assert.deepEqual(await offsetsNow(), now);
  });

  it('upserts many rows per cycle (rows/s reported)', async () => {
    const cycles = 20;
    const perCycle = 5000;
    let offsets = await offsetsNow();
    const began = performance.now();
    for (let c = 0; c < cycles; c++) {
      const next = offsets.map((o) => o + perCycle / PARTITIONS);
      await commitCycle(
        rowsFor(10_000 + c, perCycle, (i) => i),
        { partition: ALL, expected: offsets, next },
      );
      offsets = next;
    }
    const secs = (performance.now() - began) / 1000;
    // the same keys again: every row an update
    const began2 = performance.now();
    for (let c = 0; c < cycles; c++) {
      const next = offsets.map((o) => o + perCycle / PARTITIONS);
      await commitCycle(
        rowsFor(10_000 + c, perCycle, (i) => i + 1),
        { partition: ALL, expected: offsets, next },
      );
      offsets = next;
    }
    const secs2 = (performance.now() - began2) / 1000;
    assert.equal(
      Number(
        (
          await client.query<{ n: string }>(
            `select count(*) as n from "${schema}".aggregates where minute >= 10000`,
          )
        ).rows[0]?.n,
      ),
      cycles * perCycle,
    );
    assert.deepEqual(await offsetsNow(), offsets);
    console.log(
      `# pg unnest upsert, ${perCycle} rows + ${PARTITIONS} offsets per transaction: ` +
        `inserts ${Math.round((cycles * perCycle) / secs)} rows/s, updates ${Math.round((cycles * perCycle) / secs2)} rows/s`,
    );
  });
});
