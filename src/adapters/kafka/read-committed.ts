/**
 * The records a read_committed consumer may see in one fetched partition, as Kafka's Java
 * consumer decides it (its fetcher's aborted-transaction skipping):
 *
 * - the broker sends data up to the last stable offset, aborted transactions included, with
 *   the list of the transactions aborted in that range (producer id, first offset);
 * - walking the batches in offset order, a producer joins the aborted set once a batch at or
 *   past its aborted transaction's first offset is reached, and leaves it at its ABORT marker;
 * - transactional data batches of a producer in the set are skipped, control batches are never
 *   data.
 *
 * @platformatic/kafka 1.35 filters with one (first, marker) range per producer id, so when one
 * producer aborted several transactions inside one fetch, only the last is dropped and the
 * earlier ones reach a read_committed consumer; and while a range's marker is past the end of
 * the response (a fetch cut by maxBytes) it keeps the aborted records (see
 * test/integration/distributed/kafka-transactions.test). This walk is applied to every fetch
 * the distributed mode reads, after the library's own filter (which only ever drops batches
 * that are really aborted, so applying both is exact).
 */

const IS_TRANSACTIONAL = 1 << 4;
const IS_CONTROL = 1 << 5;
const ABORT = 0;

/** The fields of a fetched record batch this needs (a subset of the client's RecordsBatch). */
export interface FetchedBatch {
  firstOffset: bigint;
  lastOffsetDelta: number;
  attributes: number;
  producerId: bigint;
  records: ReadonlyArray<{ key: Uint8Array | null }>;
}

export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

/** The control record's type: its key is [version int16][type int16] (0 = ABORT, 1 = COMMIT). */
function controlType(batch: FetchedBatch): number {
  const key = batch.records[0]?.key;
  if (key === null || key === undefined || key.byteLength < 4) return -1;
  return (key[2] as number) * 256 + (key[3] as number);
}

/**
 * The batches of `batches` (one partition, offset order) that hold committed data: no control
 * batch, no batch of an aborted transaction.
 */
export function committedBatches<B extends FetchedBatch>(
  batches: readonly B[],
  aborted: readonly AbortedTransaction[],
): B[] {
  const pending = [...aborted].sort((x, y) =>
    x.firstOffset < y.firstOffset ? -1 : x.firstOffset > y.firstOffset ? 1 : 0,
  );
  let next = 0;
  const abortedProducers = new Set<bigint>();
  const out: B[] = [];
  for (const batch of batches) {
    const transactional = (batch.attributes & IS_TRANSACTIONAL) !== 0;
    const control = (batch.attributes & IS_CONTROL) !== 0;
    if (transactional) {
      const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
      while (next < pending.length && (pending[next] as AbortedTransaction).firstOffset <= last) {
        abortedProducers.add((pending[next] as AbortedTransaction).producerId);
        next++;
      }
      if (control) {
        if (controlType(batch) === ABORT) abortedProducers.delete(batch.producerId);
        continue;
      }
      if (abortedProducers.has(batch.producerId)) continue;
    } else if (control) {
      continue;
    }
    out.push(batch);
  }
  return out;
}
