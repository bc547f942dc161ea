import type { Command } from 'commander';
import { appContext, type AppContext } from '../app/context.js';
import type { Config, DeepPartial } from '../config/index.js';

interface GlobalOptions {
  dataDir?: string;
  config?: string;
}

/** A command's context: defaults ← --config file ← environment ← flags (--data-dir, then its own). */
export function commandContext(program: Command, overrides: DeepPartial<Config> = {}): AppContext {
  const global = program.opts<GlobalOptions>();
  return appContext({
    file: global.config,
    overrides: { ...overrides, ...(global.dataDir ? { dataDir: global.dataDir } : {}) },
  });
}
