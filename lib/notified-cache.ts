import type { Store } from '../adapters/index.js';

const ENTRY_TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

/**
 * A per-process read cache for records the protocol reads on every request (clients,
 * resources, users). A write calls `invalidate` once the write is done, which drops the local copy and
 * publishes the key so every instance drops its copy; after a lost subscription the whole
 * cache is dropped, and entries expire anyway after 30 s. Misses are cached too, so
 * `invalidate` must also follow a creation.
 *
 * A read that was under way while any invalidation arrived is returned but not kept: it may
 * have read the record before the write, and keeping it would undo the invalidation.
 */
export class NotifiedCache<T> {
  private readonly entries = new Map<string, { value: T | undefined; until: number }>();
  /** counts invalidations, so a read can tell whether one happened while it was under way */
  private epoch = 0;

  constructor(private readonly store: Store, private readonly channel: string) {}

  async start(): Promise<void> {
    await this.store.subscribe(this.channel, (key) => this.drop(key), () => this.clear());
  }

  async get(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const cached = this.entries.get(key);
    if (cached && cached.until > Date.now()) return cached.value;
    const epoch = this.epoch;
    const value = await load();
    if (epoch === this.epoch) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(key, { value, until: Date.now() + ENTRY_TTL_MS });
    }
    return value;
  }

  async invalidate(key: string): Promise<void> {
    this.drop(key);
    await this.store.publish(this.channel, key);
  }

  private drop(key: string): void {
    this.epoch += 1;
    this.entries.delete(key);
  }

  private clear(): void {
    this.epoch += 1;
    this.entries.clear();
  }
}
