export {
  ConfigSchema,
  DISTRIBUTED_ROLES,
  type Config,
  type DistributedRoleName,
} from './schema.js';
export { loadConfig, type ConfigSources, type DeepPartial } from './load.js';
