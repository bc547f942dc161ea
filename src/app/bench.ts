import { fileURLToPath } from 'node:url';
import { TallyError } from '../core/errors.js';
import type { AppContext } from './context.js';

/** What `tally bench` hands the suite (bench/index.ts's RunBenchOptions, which src never imports). */
export interface BenchRequest {
  only?: string[] | undefined;
  quick: boolean;
  json: boolean;
}

interface BenchSuite {
  runBench(opts: BenchRequest & AppContext): Promise<void>;
}

/**
 * `tally bench`. The suite lives in bench/, beside src/: it is built with the tests, not into
 * the product, and it needs dev dependencies (autocannon). The specifier is computed so that
 * building src/ alone does not pull bench/ in.
 */
export async function runBenchSuite(ctx: AppContext, req: BenchRequest): Promise<void> {
  const entry = new URL('../../bench/index.js', import.meta.url).href;
  let suite: BenchSuite;
  try {
    suite = (await import(entry)) as BenchSuite;
  } catch (err) {
    throw benchMissing(err, entry);
  }
  await suite.runBench({ ...req, ...ctx });
}

function benchMissing(err: unknown, entry: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') return err;
  const what = e.message.includes(fileURLToPath(entry))
    ? 'the benchmark suite is not built here (it ships with the repository, not the package): in a clone, `npm install` with the dev dependencies builds it, as does `npx tsc -p tsconfig.json`'
    : `the benchmark suite needs the dev dependencies (${e.message.split('\n')[0]}): run \`npm install\` without --omit=dev`;
  return new TallyError('TALLY_NOT_FOUND', what, { cause: err });
}
