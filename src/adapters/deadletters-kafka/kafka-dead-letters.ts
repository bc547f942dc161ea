/**
 * The dead letters of the distributed mode on the topic `<ns>.deadletters`: one JSON record
 * per letter (the file store's encoding), written by an idempotent producer with acks=all, so
 * `add` resolves only once the letters are durable on the broker.
 *
 * One partition: a dead-letter list is read in arrival order, and `list(limit, offset)` pages
 * by position in that order, which only a single partition keeps total. Its writers are
 * idempotent producers (no transaction markers), so a letter's position is its offset minus
 * the partition's start.
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

export class KafkaDeadLetters implements DeadLetterStore {
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
    await this.log.refresh();
    const end = this.log.endOffset(0);
    let from = this.log.startOffset(0) + offset;
    const out: DeadLetter[] = [];
    while (out.length < limit && from < end) {
      const r = await this.log.read(0, from, Math.min(limit - out.length, end - from));
      if (r.count === 0) break;
      for (const text of unframe(r.data)) {
        const l = decodeLetter(text);
        if (l === undefined) {
          throw new TallyError(
            'TALLY_LOG_CORRUPT',
            `a record of the dead-letter topic is not a dead letter`,
          );
        }
        out.push(l);
      }
      from = r.nextOffset;
    }
    return out;
  }

  async count(): Promise<number> {
    await this.log.refresh();
    return this.log.endOffset(0) - this.log.startOffset(0);
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
