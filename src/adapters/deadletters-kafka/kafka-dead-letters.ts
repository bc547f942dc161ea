/**
 * The dead letters of the distributed mode on the topic `<ns>.deadletters`: one JSON record
 * per letter (the file store's encoding), written by an idempotent producer with acks=all, so
 * `add` resolves only once the letters are durable on the broker.
 *
 * One partition: a dead-letter list is read in arrival order, and `list(limit, offset)` pages
 * by position in that order, which only a single partition keeps total. Positions are
 * counted by reading (transactional writers leave markers between letters): dead letters are
 * few, and `count` only reads what came since its last call.
 */
import { TallyError } from '../../core/errors.js';
import type { DeadLetter, DeadLetterStore } from '../../ports/dead-letters.js';
import { decodeLetter, encodeLetter } from '../deadletters-file/letter-codec.js';
import { KafkaEventLog } from '../log-kafka/index.js';

export interface KafkaDeadLettersOptions {
  brokers: string[];
  topic: string;
  /** create the topic (one partition) when it does not exist */
  create?: boolean;
  clientId?: string;
}

function frame(letters: readonly DeadLetter[]): Uint8Array {
  const bodies = letters.map((l) => Buffer.from(encodeLetter(l).trimEnd(), 'utf8'));
  const out = Buffer.allocUnsafe(bodies.reduce((n, b) => n + 4 + b.byteLength, 0));
  let pos = 0;
  for (const b of bodies) {
    out.writeUInt32LE(b.byteLength, pos);
    b.copy(out, pos + 4);
    pos += 4 + b.byteLength;
  }
  return out;
}

function unframe(data: Uint8Array): string[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: string[] = [];
  for (let pos = 0; pos < buf.byteLength;) {
    const len = buf.readUInt32LE(pos);
    out.push(buf.toString('utf8', pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

function decode(text: string): DeadLetter {
  const l = decodeLetter(text);
  if (l === undefined) {
    throw new TallyError(
      'TALLY_LOG_CORRUPT',
      'a record of the dead-letter topic is not a dead letter',
    );
  }
  return l;
}

export class KafkaDeadLetters implements DeadLetterStore {
  /** the letters below Kafka offset `next` (for count) */
  private counted = { next: 0, letters: 0 };

  private constructor(private readonly log: KafkaEventLog) {}

  static async open(o: KafkaDeadLettersOptions): Promise<KafkaDeadLetters> {
    const log = await KafkaEventLog.open({
      brokers: o.brokers,
      topic: o.topic,
      partitions: 1,
      create: o.create ?? false,
      clientId: o.clientId ?? `tally-deadletters-${o.topic}`,
    });
    return new KafkaDeadLetters(log);
  }

  async add(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.log.append([{ partition: 0, data: frame(letters), count: letters.length }]);
  }

  async list(limit: number, offset = 0): Promise<DeadLetter[]> {
    for (const [v, field] of [
      [limit, 'limit'],
      [offset, 'offset'],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new TallyError('TALLY_BAD_PARAMETER', `${field} must be a non-negative integer`, {
          field,
        });
      }
    }
    if (limit === 0) return [];
    const out: DeadLetter[] = [];
    let skip = offset;
    await this.scan(this.log.startOffset(0), (texts) => {
      const from = Math.min(skip, texts.length);
      skip -= from;
      for (const text of texts.slice(from, from + limit - out.length)) out.push(decode(text));
      return out.length < limit;
    });
    return out;
  }

  async count(): Promise<number> {
    // counted up to `counted.next` already: only what came since is read
    if (this.counted.next < this.log.startOffset(0)) this.counted = { next: 0, letters: 0 };
    let letters = this.counted.letters;
    const next = await this.scan(Math.max(this.counted.next, this.log.startOffset(0)), (texts) => {
      letters += texts.length;
      return true;
    });
    this.counted = { next, letters };
    return letters;
  }

  /**
   * Reads the letters from `from` to the topic's end, a fetch at a time, while `each` says go
   * on; positions are counted, not computed: the ingest role's transactions leave markers
   * between letters. Returns where it stopped.
   */
  private async scan(from: number, each: (texts: string[]) => boolean): Promise<number> {
    await this.log.refresh();
    const end = this.log.endOffset(0);
    let at = from;
    while (at < end) {
      const r = await this.log.read(0, at, 10_000);
      if (r.nextOffset <= at) break;
      at = r.nextOffset;
      if (r.count > 0 && !each(unframe(r.data))) break;
    }
    return at;
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
