export { dropPgSchema, openPgStore } from './open.js';
export type { PgAggregateStore, PgStoreOptions } from './open.js';
