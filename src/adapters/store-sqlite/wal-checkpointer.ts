/**
 * WAL checkpoints on a thread of their own (wal-worker.ts), so no commit on the writer's
 * thread carries one. The writer turns its automatic checkpoint off and asks for one after
 * each commit; requests made while one runs are folded into the next. A checkpoint that
 * fails or meets a busy database is harmless (the WAL keeps the commits, and the next
 * checkpoint copies them): it is logged, not raised.
 */
import { Worker } from 'node:worker_threads';
import type { StoreLogger } from './logger.js';

export interface WalWorkerData {
  file: string;
}

export interface WalRequest {
  id: number;
  /** after the copy, reset the WAL file to zero bytes (after a snapshot base: as large as it) */
  truncate: boolean;
}

export interface WalResponse {
  id: number;
  error?: string;
}

export interface WalCheckpointer {
  /** a checkpoint soon; `truncate` also resets the WAL file */
  request(truncate: boolean): void;
  /** the checkpoints asked for so far have run (or failed) */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export function startWalCheckpointer(file: string, logger?: StoreLogger): WalCheckpointer {
  let worker: Worker | undefined;
  let running = false;
  /** a request arrived while one ran: undefined if none, else whether it asked to truncate */
  let queued: boolean | undefined;
  let nextId = 1;
  let closed = false;
  let waiters: (() => void)[] = [];

  const settle = () => {
    running = false;
    if (queued !== undefined && !closed) {
      const t = queued;
      queued = undefined;
      send(t);
      return;
    }
    worker?.unref();
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };

  const spawn = (): Worker => {
    const w = new Worker(new URL('./wal-worker.js', import.meta.url), {
      workerData: { file } satisfies WalWorkerData,
    });
    w.on('message', (res: WalResponse) => {
      if (res.error !== undefined)
        logger?.warn({ err: res.error }, 'aggregate store: WAL checkpoint failed');
      settle();
    });
    const gone = (why: string) => {
      if (worker !== w) return;
      worker = undefined;
      if (!closed) logger?.warn({ why }, 'aggregate store: WAL checkpoint thread ended');
      if (running) settle();
    };
    w.on('error', (e) => gone(e instanceof Error ? e.message : String(e)));
    w.on('exit', (code) => gone(`exit ${code}`));
    return w;
  };

  const send = (truncate: boolean) => {
    worker ??= spawn();
    running = true;
    // while a checkpoint runs the process waits for it (a close waits too)
    worker.ref();
    worker.postMessage({ id: nextId++, truncate } satisfies WalRequest);
  };

  return {
    request(truncate) {
      if (closed) return;
      if (running) queued = (queued ?? false) || truncate;
      else send(truncate);
    },
    idle() {
      if (!running) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    async close() {
      if (closed) return;
      closed = true;
      queued = undefined;
      if (running) await new Promise<void>((resolve) => waiters.push(resolve));
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}
