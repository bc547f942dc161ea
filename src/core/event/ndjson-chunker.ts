/**
 * Stream framing for file ingest: a byte stream cut into chunks of whole NDJSON lines, for
 * encoding chunk by chunk (or in parallel, see rebaseNdjsonBatch in encode-batch.ts).
 */
import { isBomAt, isBomPrefix } from './utf8.js';

const EMPTY = new Uint8Array(0);

/**
 * `push` returns the bytes up to the last LF seen (or undefined), `end` the last line when
 * the stream did not end with a LF. Up to two BOMs are skipped at the start of the stream,
 * as the text path skips them (TextDecoder drops one, the line splitter another).
 */
export class NdjsonChunker {
  // the bytes after the last LF so far, in pieces: joined once, when a LF ends the line, so a
  // very long line costs linear time
  private carry: Uint8Array[] = [];
  private carryBytes = 0;
  private head: Uint8Array = EMPTY;
  private started = false;
  private boms = 0;

  /** The whole lines completed by `chunk`, in a new buffer of their own (transferable). */
  push(chunk: Uint8Array): Uint8Array | undefined {
    let data = chunk;
    if (!this.started) {
      data = concat(this.head, chunk);
      this.head = EMPTY;
      while (this.boms < 2 && isBomAt(data, 0, data.length)) {
        data = data.subarray(3);
        this.boms++;
      }
      if (this.boms < 2 && data.length < 3 && isBomPrefix(data)) {
        this.head = copyOf(data, 0, data.length); // too few bytes yet to tell a BOM
        return undefined;
      }
      if (data.length === 0) return undefined;
      this.started = true;
    }
    const last = data.lastIndexOf(10);
    if (last < 0) {
      this.keep(data, 0);
      return undefined;
    }
    const out = new Uint8Array(this.carryBytes + last + 1);
    let p = 0;
    for (const piece of this.carry) {
      out.set(piece, p);
      p += piece.length;
    }
    out.set(data.subarray(0, last + 1), p);
    this.carry = [];
    this.carryBytes = 0;
    this.keep(data, last + 1);
    return out;
  }

  /** The last line when the stream did not end with a LF (a new buffer), or undefined. */
  end(): Uint8Array | undefined {
    const rest = new Uint8Array(this.head.length + this.carryBytes);
    rest.set(this.head, 0);
    let p = this.head.length;
    for (const piece of this.carry) {
      rest.set(piece, p);
      p += piece.length;
    }
    this.head = EMPTY;
    this.carry = [];
    this.carryBytes = 0;
    return rest.length > 0 ? rest : undefined;
  }

  private keep(data: Uint8Array, from: number): void {
    if (from >= data.length) return;
    this.carry.push(copyOf(data, from, data.length));
    this.carryBytes += data.length - from;
  }
}

/** A copy (a node Buffer's slice() would be a view on memory the stream may reuse). */
function copyOf(d: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(d.subarray(start, end));
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
