import type { Store } from './store.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore } from './redis-store.js';
import type { RedisTopology } from './redis-connection.js';

export type { Store } from './store.js';

/** Redis configured (one server, Sentinel or Cluster): shared Redis; otherwise the embedded single-process store. */
export function createStore(topology: RedisTopology | undefined, keyPrefix: string, onConnectionError?: (err: Error) => void): Store {
  return topology ? new RedisStore({ topology, keyPrefix, onConnectionError }) : new MemoryStore();
}
