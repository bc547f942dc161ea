/**
 * The WAL checkpointer thread (wal-checkpointer.ts): its own read-write connection, copying
 * the WAL's committed pages into the database file when asked. Done on the writer's
 * connection, a checkpoint runs inside a COMMIT (SQLite's automatic checkpoint) and holds
 * the event loop for as long as it copies: 1.4 s for a 160 MB snapshot measured here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { WalRequest, WalResponse, WalWorkerData } from './wal-checkpointer.js';

const data = workerData as WalWorkerData;
const port = parentPort!;

let db: Database.Database | undefined;
let openError: unknown;
try {
  db = new Database(data.file, { fileMustExist: true });
  // never wait: a checkpoint that meets the writer or a reader does what it can, and the
  // next one continues
  db.pragma('busy_timeout = 0');
  // this connection writes nothing: it must not checkpoint on its own either
  db.pragma('wal_autocheckpoint = 0');
} catch (e) {
  openError = e;
}

port.on('message', (req: WalRequest) => {
  let res: WalResponse;
  try {
    if (db === undefined) throw openError;
    // PASSIVE copies beside the writer and the readers (it takes no lock they wait for);
    // TRUNCATE then only has to reset the file once everything is copied
    const [passive] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number }[];
    if (req.truncate && passive !== undefined && passive.busy === 0)
      db.pragma('wal_checkpoint(TRUNCATE)');
    res = { id: req.id };
  } catch (e) {
    res = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(res);
});
