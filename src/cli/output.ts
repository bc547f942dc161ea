import { isTallyError } from '../core/errors.js';

/** Output meant for machines is JSON on stdout; errors go to stderr with a non-zero exit. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printJsonLines(values: Iterable<unknown>): void {
  let chunk = '';
  for (const v of values) {
    chunk += `${JSON.stringify(v)}\n`;
    if (chunk.length > 1 << 16) {
      process.stdout.write(chunk);
      chunk = '';
    }
  }
  if (chunk) process.stdout.write(chunk);
}

/** Exit codes: 1 runtime failure, 2 bad usage (arguments, config). */
export function fail(err: unknown): never {
  if (isTallyError(err)) {
    process.stderr.write(`tally: ${err.message} [${err.code}]\n`);
    const usage = err.code === 'TALLY_BAD_PARAMETER' || err.code === 'TALLY_CONFIG_INVALID';
    process.exit(usage ? 2 : 1);
  }
  const e = err as Error;
  process.stderr.write(`tally: ${e?.stack ?? String(err)}\n`);
  process.exit(1);
}
