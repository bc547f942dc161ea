import type { FileHandle } from 'node:fs/promises';
import { readAt } from '../log-embedded/fs-durable.js';
import { decodeLetter } from './letter-codec.js';

const SCAN_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

export interface LineIndex {
  /** byte position where each complete line starts */
  starts: number[];
  /** position just after the last complete, valid line */
  end: number;
}

/**
 * Finds every complete line. What follows the last newline is a torn write; so are trailing
 * lines that do not decode (a crash can leave zeroed or stale blocks there): both are left
 * out of `end`. Lines before a valid one are kept whatever they hold.
 */
export async function indexLines(fh: FileHandle, fileSize: number): Promise<LineIndex> {
  const starts: number[] = [];
  let lineStart = 0;
  for (let pos = 0; pos < fileSize;) {
    const buf = await readAt(fh, pos, Math.min(SCAN_BYTES, fileSize - pos));
    if (buf.byteLength === 0) break;
    for (let i = buf.indexOf(NEWLINE); i >= 0; i = buf.indexOf(NEWLINE, i + 1)) {
      starts.push(lineStart);
      lineStart = pos + i + 1;
    }
    pos += buf.byteLength;
  }
  let end = lineStart;
  while (starts.length > 0) {
    const start = starts[starts.length - 1] as number;
    const line = await readAt(fh, start, end - start - 1);
    if (decodeLetter(line.toString('utf8')) !== undefined) break;
    starts.pop();
    end = start;
  }
  return { starts, end };
}
