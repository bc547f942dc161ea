/**
 * The text path of streamed NDJSON, kept as the reference the byte path is tested against
 * (core/event/ndjson-chunker.ts + encode-batch.ts): lines cut from chunks of bytes or text,
 * then parsed one by one with the same index and line numbering as parseNdjson.
 */
import {
  isBlank,
  parseNdjsonLine,
  stripCr,
  type ParsedRecord,
} from '../../src/core/event/parse-body.js';

const BOM = 0xfeff;

/**
 * Cuts a stream of chunks (bytes or text) into lines without their `\n` or `\r\n`; UTF-8 may
 * be split anywhere between chunks. `push` returns the lines completed so far; `end` returns
 * the last line when the stream did not end with a line break. Lines may be blank.
 */
export class NdjsonLineSplitter {
  // BOMs are skipped here, not by the decoder: Node 24's streaming TextDecoder drops a second
  // BOM when the first chunk ends inside the first one
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private pending = '';
  /** leading BOMs still to skip: a byte stream's own and its text's (parseBody skips one) */
  private leadingBoms: number | undefined;

  push(chunk: Uint8Array | string): string[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.leadingBoms ??= typeof chunk === 'string' ? 1 : 2;
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
    const rest = this.pending + this.decoder.decode();
    this.pending = '';
    return rest === '' ? [] : [stripCr(rest)];
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
      if (!isBlank(l)) out.push(parseNdjsonLine(l, this.index++, this.line));
    }
    return out;
  }
}
