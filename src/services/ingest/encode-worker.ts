/**
 * Worker entry of the encode pool (encode-pool.ts): encodes NDJSON chunks with the core's
 * BatchEncoder and hands the encoded partitions back by transfer, not by copy.
 */
import { parentPort } from 'node:worker_threads';
import { BatchEncoder } from '../../core/event/encode-batch.js';
import type { EncodeJob, EncodeReply } from './encode-pool.js';

const port = parentPort;
if (port === null) throw new Error('encode-worker.js runs as a worker thread only');
const encoder = new BatchEncoder();

port.on('message', (job: EncodeJob) => {
  let reply: EncodeReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const batch = encoder.encodeNdjson(job.bytes, job.opts);
    for (const p of batch.perPartition)
      if (p.count > 0) transfer.push(p.data.buffer as ArrayBuffer);
    reply = { id: job.id, batch };
  } catch (e) {
    reply = { id: job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  port.postMessage(reply, transfer);
});
