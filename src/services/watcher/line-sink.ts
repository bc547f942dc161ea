/**
 * Where the watcher sends the lines it reads: the only thing it knows of downstream. The
 * implementation here goes through the IngestService (validate, route by ad_id, append to the
 * EventLog port, keep rejected lines as dead letters), so whatever log the composition root
 * gives that service — the embedded log today — receives the lines; the watcher is unchanged.
 */
import { BatchEncoder, type EncodedBatch } from '../../core/event/encode-batch.js';
import type { ErrorCode } from '../../core/errors.js';
import type { IngestService } from '../ingest/ingest-service.js';

/** Where the first line of a send sits in its file. */
export interface LinePlace {
  /** 'file:<path>': the dead letters' source */
  source: string;
  /** 1-based line number of the first line */
  firstLine: number;
  /** non-blank lines before it in the file (record indices, as `tally ingest` counts them) */
  firstRecord: number;
}

export interface SentLines {
  /** lines in the bytes sent (a last line without its LF counts) */
  lines: number;
  /** non-blank lines among them */
  records: number;
  /** resolves once the accepted events and the dead letters are durable */
  durable: Promise<{ accepted: number; rejected: number }>;
}

/** A line that is not sent as an event: it goes to the dead letters as it is. */
export interface RejectedLine {
  source: string;
  /** 1-based line number */
  line: number;
  record: number;
  code: ErrorCode;
  message: string;
  payload: string;
}

export interface LineSink {
  /**
   * Sends the NDJSON lines `bytes[start, end)` (whole lines; only a file's final flush may end
   * without a LF). Everything is taken from `bytes` before this returns: the caller may reuse
   * the buffer. Sends reach the log in the order of the calls.
   */
  send(bytes: Uint8Array, start: number, end: number, at: LinePlace): SentLines;
  /** Keeps one line as a dead letter, durable when it resolves. */
  reject(line: RejectedLine): Promise<void>;
}

/**
 * The sink over the ingest service. A dead letter's `index` is the line's number in its file
 * (1-based, as editors and `grep -n` count), so that `tally deadletters` points at the line.
 */
export function ingestSink(ingest: IngestService): LineSink {
  const encoder = new BatchEncoder();
  const durable = (batch: EncodedBatch, source: string, bytes: number) =>
    ingest
      .ingestEncoded(batch, source, bytes)
      .then((r) => ({ accepted: r.accepted, rejected: r.rejected.length }));
  return {
    send(bytes, start, end, at) {
      const batch = encoder.encodeNdjson(
        bytes,
        { ...ingest.encodeOptions(), firstIndex: at.firstRecord, firstLine: at.firstLine },
        start,
        end,
      );
      for (const r of batch.rejected) r.index = r.line;
      return {
        lines: batch.lines,
        records: batch.records,
        durable: durable(batch, at.source, end - start),
      };
    },
    async reject(line) {
      const opts = ingest.encodeOptions();
      const batch: EncodedBatch = {
        now: opts.now,
        perPartition: [],
        accepted: 0,
        rejected: [
          {
            index: line.line,
            line: line.line,
            code: line.code,
            field: undefined,
            message: line.message,
            payload: line.payload,
          },
        ],
        records: 1,
        lines: 1,
        overLimit: false,
      };
      await durable(batch, line.source, 0);
    },
  };
}
