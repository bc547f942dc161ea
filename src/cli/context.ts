import { loadConfig, type Config, type DeepPartial } from '../config/index.js';
import { createLogger, type Logger } from '../services/observability/logger.js';

export interface GlobalOptions {
  dataDir?: string;
  config?: string;
}

/** Config for a command: defaults ← --config file ← environment ← flags. */
export function commandConfig(
  global: GlobalOptions,
  overrides: DeepPartial<Config> = {},
): { config: Readonly<Config>; logger: Logger } {
  const config = loadConfig({
    file: global.config,
    overrides: { ...overrides, ...(global.dataDir ? { dataDir: global.dataDir } : {}) },
  });
  return { config, logger: createLogger(config.logLevel) };
}
