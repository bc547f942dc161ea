import { join, resolve } from 'node:path';

/** Where the embedded default keeps its state, below --data-dir. */
export function dataPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    root,
    log: join(root, 'log'),
    store: join(root, 'tally.sqlite'),
    deadLetters: join(root, 'deadletters'),
    archive: join(root, 'archive'),
  };
}
