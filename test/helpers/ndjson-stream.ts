/**
 * The text path of streamed NDJSON, kept as the reference the byte path is tested against
 * (core/event/ndjson-chunker.ts + encode-batch.ts): lines cut from chunks of bytes or text,
 * then parsed one by one with the same index and line numbering as parseNdjson. A line of
 * bytes that are not UTF-8 is refused as such (TALLY_EVENT_INVALID_UTF8), never parsed.
 */
import {
  invalidUtf8,
  isBlank,
  parseNdjsonLine,
  stripCr,
  type ParsedRecord,
} from '../../src/core/event/parse-body.js';
import { decodeUtf8Marked, invalidByteAt } from '../../src/core/event/utf8.js';

const BOM = 0xfeff;

/**
 * Cuts a stream of chunks (bytes or text) into lines without their `\n` or `\r\n`; UTF-8 may
 * be split anywhere between chunks. `push` returns the lines completed so far; `end` returns
 * the last line when the stream did not end with a line break. Lines may be blank.
 */
export class NdjsonLineSplitter {
  private pending = '';
  /** leading BOMs still to skip: a byte stream's own and its text's (parseBody skips one) */
  private leadingBoms: number | undefined;
  // a byte stream is cut at its LF bytes (never inside a UTF-8 sequence), then each line is
  // decoded on its own, with decodeUtf8Marked's marks where its bytes are not UTF-8
  private bytes: Uint8Array[] = [];

  push(chunk: Uint8Array | string): string[] {
    if (typeof chunk !== 'string') return this.pushBytes(chunk);
    let text = chunk;
    this.leadingBoms ??= 1;
    while (this.leadingBoms > 0 && text.length > 0) {
      if (text.charCodeAt(0) === BOM) {
        text = text.slice(1);
        this.leadingBoms--;
      } else {
        this.leadingBoms = 0;
      }
    }
    const lines: string[] = [];
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl < 0) {
      this.pending += text;
      return lines;
    }
    lines.push(stripCr(this.pending + text.slice(0, nl)));
    start = nl + 1;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      lines.push(stripCr(text.slice(start, nl)));
      start = nl + 1;
    }
    this.pending = text.slice(start);
    return lines;
  }

  end(): string[] {
    if (this.bytes.length > 0) {
      const rest = this.lineOf(Buffer.concat(this.bytes));
      this.bytes = [];
      return rest === '' ? [] : [rest];
    }
    const rest = this.pending;
    this.pending = '';
    return rest === '' ? [] : [stripCr(rest)];
  }

  private pushBytes(chunk: Uint8Array): string[] {
    this.leadingBoms ??= 2;
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.bytes.push(chunk.subarray(start, nl));
      lines.push(this.lineOf(Buffer.concat(this.bytes)));
      this.bytes = [];
      start = nl + 1;
    }
    if (start < chunk.length) this.bytes.push(Uint8Array.from(chunk.subarray(start)));
    return lines;
  }

  /** One line's bytes as text; up to two BOMs skipped at the start of the stream. */
  private lineOf(b: Uint8Array): string {
    let text = decodeUtf8Marked(b, 0, b.length);
    while ((this.leadingBoms ?? 0) > 0) {
      if (text.charCodeAt(0) === BOM) {
        text = text.slice(1);
        this.leadingBoms!--;
      } else this.leadingBoms = 0;
    }
    return stripCr(text);
  }
}

/**
 * Streams NDJSON into parsed records with the same index and line numbering as parseNdjson.
 */
export class NdjsonRecordStream {
  private readonly splitter = new NdjsonLineSplitter();
  private index = 0;
  private line = 0;

  push(chunk: Uint8Array | string): ParsedRecord[] {
    return this.records(this.splitter.push(chunk));
  }

  end(): ParsedRecord[] {
    return this.records(this.splitter.end());
  }

  private records(lines: string[]): ParsedRecord[] {
    const out: ParsedRecord[] = [];
    for (const l of lines) {
      this.line++;
      if (isBlank(l)) continue;
      const bad = invalidByteAt(l);
      out.push(
        bad >= 0
          ? invalidUtf8(this.index++, this.line, l, bad)
          : parseNdjsonLine(l, this.index++, this.line),
      );
    }
    return out;
  }
}
