import type { Store } from './store.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore } from './redis-store.js';

export type { Store } from './store.js';

/** REDIS_URL given: shared Redis; otherwise the embedded single-process store. */
export function createStore(redisUrl: string | undefined, keyPrefix: string): Store {
  return redisUrl ? new RedisStore({ url: redisUrl, keyPrefix }) : new MemoryStore();
}
