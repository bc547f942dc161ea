export { ConfigSchema, type Config } from './schema.js';
export { loadConfig, type ConfigSources, type DeepPartial } from './load.js';
