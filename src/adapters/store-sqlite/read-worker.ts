/**
 * A reader thread: its own read-only connection to the store file, answering the query
 * methods posted to it (read-pool.ts). WAL lets it read beside the writer, and a slow query
 * (a GROUP BY over many rows) then runs here instead of stalling the main event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { isTallyError } from '../../core/errors.js';
import { guard, storeFailure } from './errors.js';
import { prepareQueries, type Queries } from './queries.js';
import { hasIndex } from './schema.js';
import type { ReadRequest, ReadResponse, ReadWorkerData } from './read-pool.js';

const data = workerData as ReadWorkerData;
const port = parentPort!;

let queries: Queries | undefined;
let openError: unknown;
try {
  const db = new Database(data.file, { readonly: true, fileMustExist: true });
  db.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
  db.pragma(`cache_size = ${-1024 * data.cacheMiB}`);
  queries = prepareQueries(db, hasIndex(db, 'perAd'));
} catch (e) {
  openError = e;
}

port.on('message', (req: ReadRequest) => {
  let res: ReadResponse;
  try {
    if (queries === undefined) throw storeFailure(`open ${data.file} for reading`, openError);
    const q = queries;
    const fn = q[req.op] as (...args: unknown[]) => unknown;
    res = { id: req.id, value: guard(req.op, () => fn(...req.args)) };
  } catch (e) {
    const err = isTallyError(e) ? e : storeFailure(req.op, e);
    res = {
      id: req.id,
      error: { code: err.code, message: err.message, field: err.field, details: err.details },
    };
  }
  port.postMessage(res);
});
