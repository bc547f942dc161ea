/**
 * Reader threads for the query methods (read-worker.ts): better-sqlite3 answers on the thread
 * that calls it, so a query on the main thread holds the event loop (ingest, health checks,
 * every other request) for as long as it runs. Each call goes to the thread with the fewest
 * calls in flight; a thread that dies fails its calls and is replaced on the next one.
 */
import { Worker } from 'node:worker_threads';
import { TallyError, type ErrorCode } from '../../core/errors.js';
import type { Queries } from './queries.js';

export type ReadOp = 'count' | 'timeseries' | 'top' | 'storedTop' | 'late';

export interface ReadWorkerData {
  file: string;
  busyTimeoutMs: number;
  cacheMiB: number;
}

export interface ReadRequest {
  id: number;
  op: ReadOp;
  args: unknown[];
}

export interface ReadResponse {
  id: number;
  value?: unknown;
  error?: {
    code: ErrorCode;
    message: string;
    field: string | undefined;
    details: Record<string, unknown> | undefined;
  };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export interface ReadPool {
  call<K extends ReadOp>(op: K, ...args: Parameters<Queries[K]>): Promise<ReturnType<Queries[K]>>;
  close(): Promise<void>;
}

export function startReadPool(data: ReadWorkerData, size: number): ReadPool {
  const slots: (Slot | undefined)[] = new Array<Slot | undefined>(Math.max(1, size)).fill(
    undefined,
  );
  let nextId = 1;
  let closed = false;

  const failAll = (slot: Slot, why: string) => {
    for (const p of slot.pending.values())
      p.reject(new TallyError('TALLY_STORE_FAILURE', `sqlite store: reader thread ${why}`));
    slot.pending.clear();
  };

  const spawn = (i: number): Slot => {
    const worker = new Worker(new URL('./read-worker.js', import.meta.url), { workerData: data });
    const slot: Slot = { worker, pending: new Map() };
    // an idle reader does not keep the process alive; one with calls in flight does
    worker.unref();
    worker.on('message', (res: ReadResponse) => {
      const p = slot.pending.get(res.id);
      if (p === undefined) return;
      slot.pending.delete(res.id);
      if (slot.pending.size === 0) worker.unref();
      if (res.error === undefined) p.resolve(res.value);
      else
        p.reject(
          new TallyError(res.error.code, res.error.message, {
            field: res.error.field,
            details: res.error.details,
          }),
        );
    });
    const gone = (why: string) => {
      if (slots[i] === slot) slots[i] = undefined;
      failAll(slot, why);
    };
    worker.on('error', (e) => gone(`failed: ${e instanceof Error ? e.message : String(e)}`));
    worker.on('exit', (code) => gone(`exited (${code})`));
    slots[i] = slot;
    return slot;
  };

  const pick = (): Slot => {
    let best = -1;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (s === undefined) return spawn(i);
      if (best < 0 || s.pending.size < slots[best]!.pending.size) best = i;
    }
    return slots[best]!;
  };

  return {
    call(op, ...args) {
      if (closed)
        return Promise.reject(
          new TallyError('TALLY_STORE_FAILURE', `sqlite store: ${op} after close`),
        );
      const slot = pick();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        slot.worker.ref();
        slot.worker.postMessage({ id, op, args } satisfies ReadRequest);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(
        slots.map(async (s, i) => {
          if (s === undefined) return;
          slots[i] = undefined;
          failAll(s, 'closed');
          await s.worker.terminate();
        }),
      );
    },
  };
}
