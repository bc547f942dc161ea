import { loadConfig, type Config, type ConfigSources } from '../config/index.js';
import { createLogger, type Logger } from '../services/observability/logger.js';

/** What every command starts from: the one frozen config, and a logger at its level. */
export interface AppContext {
  config: Readonly<Config>;
  logger: Logger;
}

/** Config from defaults ← file ← environment ← flags, validated once; the logger it asks for. */
export function appContext(sources: ConfigSources): AppContext {
  const config = loadConfig(sources);
  return { config, logger: createLogger(config.logLevel) };
}
