/**
 * The watcher's read positions, per file identity, as they are durable downstream. The text
 * format is JSON (small: one entry per file); the store that keeps it is the composition
 * root's choice (a file replaced atomically: temp file, fsync, rename, fsync of the directory).
 */
import { TallyError } from '../../core/errors.js';
import type { Fingerprint } from './identity.js';

/** Where reading resumes in a file. */
export interface Position {
  /** byte offset of the next line (or of the rest of a too-long line being skipped) */
  offset: number;
  /** lines before `offset` (the next line's number is line + 1) */
  line: number;
  /** non-blank lines before `offset` */
  record: number;
  /** inside a line longer than the limit: skip to its LF */
  skipping: boolean;
}

export const START: Readonly<Position> = Object.freeze({
  offset: 0,
  line: 0,
  record: 0,
  skipping: false,
});

export interface CheckpointEntry {
  dev: string;
  ino: string;
  /** the file's last known name */
  path: string;
  fingerprint: Fingerprint;
  position: Position;
  /** renamed or deleted away from the watched names: to be finished, then forgotten */
  rotated: boolean;
}

/** Keeps the checkpoint's text; `save` is all-or-nothing and durable when it resolves. */
export interface CheckpointStore {
  /** what was last saved, or undefined when nothing was */
  load(): Promise<string | undefined>;
  save(text: string): Promise<void>;
  /** where it lives, for messages */
  readonly where: string;
}

const VERSION = 1;

export function encodeCheckpoint(entries: readonly CheckpointEntry[]): string {
  return JSON.stringify({ version: VERSION, files: entries }, null, 1) + '\n';
}

export function decodeCheckpoint(text: string, where: string): CheckpointEntry[] {
  const bad = (why: string, cause?: unknown) =>
    new TallyError(
      'TALLY_CHECKPOINT_INVALID',
      `watch checkpoint ${where}: ${why}; remove it to read every watched file from its start ` +
        'again (the lines sent twice are absorbed by dedup within its horizon)',
      { field: 'checkpoint', cause },
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad('not valid JSON', e);
  }
  if (!isObject(doc) || doc.version !== VERSION || !Array.isArray(doc.files)) {
    throw bad(`not a version ${VERSION} checkpoint`);
  }
  return doc.files.map((f: unknown, i: number) => {
    if (!isEntry(f)) throw bad(`entry ${i} is malformed`);
    return f;
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function isEntry(v: unknown): v is CheckpointEntry {
  if (!isObject(v)) return false;
  const { fingerprint: fp, position: p } = v;
  return (
    typeof v.dev === 'string' &&
    typeof v.ino === 'string' &&
    typeof v.path === 'string' &&
    typeof v.rotated === 'boolean' &&
    isObject(fp) &&
    isCount(fp.length) &&
    typeof fp.hash === 'string' &&
    isObject(p) &&
    isCount(p.offset) &&
    isCount(p.line) &&
    isCount(p.record) &&
    typeof p.skipping === 'boolean'
  );
}
