/**
 * Worker threads that encode NDJSON chunks (core/event/encode-batch) off the main thread:
 * file ingest reads and appends on the main thread while the workers scan and encode.
 * Chunks go to the least busy worker by transfer (the chunk's buffer moves, it is not copied)
 * and come back the same way; `encode` resolves per chunk, in whatever order the workers
 * finish, so the caller puts results back in input order before appending (cli ingest does).
 */
import { Worker } from 'node:worker_threads';
import type { EncodeOptions, EncodedBatch } from '../../core/event/encode-batch.js';
import { TallyError } from '../../core/errors.js';

export interface EncodeJob {
  id: number;
  bytes: Uint8Array;
  opts: EncodeOptions;
}

export type EncodeReply = { id: number; batch: EncodedBatch } | { id: number; error: string };

interface Pending {
  resolve: (b: EncodedBatch) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class EncodePool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  constructor(size: number) {
    const url = new URL('./encode-worker.js', import.meta.url);
    for (let i = 0; i < Math.max(1, size); i++) {
      const slot: Slot = { worker: new Worker(url), pending: new Map() };
      slot.worker.on('message', (m: EncodeReply) => {
        const p = slot.pending.get(m.id);
        if (p === undefined) return;
        slot.pending.delete(m.id);
        if ('batch' in m) p.resolve(m.batch);
        else p.reject(new TallyError('TALLY_INTERNAL', `encode worker failed: ${m.error}`));
      });
      const fail = (e: unknown) => {
        for (const p of slot.pending.values()) p.reject(e);
        slot.pending.clear();
      };
      slot.worker.on('error', fail);
      slot.worker.on('exit', (code) => {
        if (!this.closed) fail(new TallyError('TALLY_INTERNAL', `encode worker exited (${code})`));
      });
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** chunks handed to the workers and not yet back */
  get pending(): number {
    let n = 0;
    for (const s of this.slots) n += s.pending.size;
    return n;
  }

  /**
   * Encodes NDJSON bytes (whole lines) in a worker, as BatchEncoder.encodeNdjson would here.
   * The bytes' buffer is transferred: the caller must not use `bytes` afterwards (a view on a
   * buffer it shares is copied first).
   */
  encode(bytes: Uint8Array, opts: EncodeOptions): Promise<EncodedBatch> {
    if (this.closed)
      return Promise.reject(new TallyError('TALLY_UNAVAILABLE', 'the encode pool is closed'));
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const own =
      bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer
        ? bytes
        : bytes.slice();
    const id = this.nextId++;
    return new Promise<EncodedBatch>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      const job: EncodeJob = { id, bytes: own, opts };
      slot.worker.postMessage(job, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
