export { openSqliteStore } from './open.js';
export type { SqliteAggregateStore, SqliteStoreOptions } from './open.js';
export type { StoreLogger } from './logger.js';
