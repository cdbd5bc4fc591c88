import type { Store } from '../../adapters/index.js';

const ENTRY_TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

/**
 * A per-process read cache for records the protocol reads on every request. A write calls
 * `invalidate`, which publishes the key so every instance drops its copy; after a lost
 * subscription the whole cache is dropped, and entries expire anyway after 30 s.
 * Misses are cached too, so `invalidate` must also follow a creation.
 */
export class NotifiedCache<T> {
  private readonly entries = new Map<string, { value: T | undefined; until: number }>();

  constructor(private readonly store: Store, private readonly channel: string) {}

  async start(): Promise<void> {
    await this.store.subscribe(this.channel, (key) => this.entries.delete(key), () => this.entries.clear());
  }

  async get(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const cached = this.entries.get(key);
    if (cached && cached.until > Date.now()) return cached.value;
    const value = await load();
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { value, until: Date.now() + ENTRY_TTL_MS });
    return value;
  }

  async invalidate(key: string): Promise<void> {
    this.entries.delete(key);
    await this.store.publish(this.channel, key);
  }
}
