import { EventEmitter } from 'node:events';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import {
  type RateLimiter, type RateLimitOptions, type Store, type Versioned, CONSUMABLE_MODELS, GRANTABLE_MODELS, rateLimiterOver,
} from './store.js';
import { alreadyConsumed } from './consume-error.js';

interface Entry {
  value: string;
  expiresAt?: number;
  consumed?: number;
}

const SWEEP_INTERVAL_MS = 60_000;
const GRANT_INDEX_PREFIX = 'oidc:grant:';

/**
 * Embedded single-process store, the default when no REDIS_URL is given. Same semantics as
 * RedisStore (TTLs, atomic consume, grant index); state is lost on exit.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly sets = new Map<string, Set<string>>();
  private readonly schedules = new Map<string, Map<string, number>>();
  private readonly bus = new EventEmitter();
  private readonly adapters = new Map<string, Adapter>();
  private readonly sweeper: NodeJS.Timeout;

  constructor() {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  /** Live entry or undefined; expired entries are dropped on read. */
  entry(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  write(key: string, value: string, ttl?: number, keepConsumed = false): void {
    const consumed = keepConsumed ? this.entry(key)?.consumed : undefined;
    this.entries.set(key, { value, expiresAt: ttl ? Date.now() + ttl * 1000 : undefined, consumed });
  }

  /** Drops expired entries, and grant-index members whose record is gone (other sets hold ids, not keys). */
  sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.entries.delete(key);
    }
    for (const [key, members] of this.sets) {
      if (!key.startsWith(GRANT_INDEX_PREFIX)) continue;
      for (const member of members) if (!this.entries.has(member)) members.delete(member);
      if (members.size === 0) this.sets.delete(key);
    }
  }

  async getJSON<T>(key: string): Promise<T | undefined> {
    const entry = this.entry(key);
    return entry ? JSON.parse(entry.value) as T : undefined;
  }

  async getManyJSON<T>(keys: string[]): Promise<Array<T | undefined>> {
    return Promise.all(keys.map((key) => this.getJSON<T>(key)));
  }

  async putJSON(key: string, value: unknown, ttl?: number): Promise<void> {
    this.write(key, JSON.stringify(value), ttl);
  }

  async createJSON(key: string, value: unknown, ttl?: number): Promise<boolean> {
    if (this.entry(key)) return false;
    this.write(key, JSON.stringify(value), ttl);
    return true;
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      this.entries.delete(key);
      this.sets.delete(key);
    }
  }

  async takeJSON<T>(key: string): Promise<T | undefined> {
    // no await between read and delete: atomic on the single thread
    const entry = this.entry(key);
    this.entries.delete(key);
    return entry ? JSON.parse(entry.value) as T : undefined;
  }

  async readJSON<T>(key: string): Promise<Versioned<T> | undefined> {
    const entry = this.entry(key);
    return entry ? { value: JSON.parse(entry.value) as T, revision: entry.value } : undefined;
  }

  async replaceJSON(key: string, revision: string, value: unknown, ttl?: number): Promise<boolean> {
    // compare and write with no await in between: atomic on the single thread
    if (this.entry(key)?.value !== revision) return false;
    this.write(key, JSON.stringify(value), ttl);
    return true;
  }

  async removeJSON(key: string, revision: string): Promise<boolean> {
    if (this.entry(key)?.value !== revision) return false;
    this.entries.delete(key);
    return true;
  }

  async claim(key: string, owner: string): Promise<boolean> {
    const current = this.entry(key)?.value;
    if (current === undefined) this.write(key, owner);
    return current === undefined || current === owner;
  }

  async release(key: string, owner: string): Promise<void> {
    if (this.entry(key)?.value === owner) this.entries.delete(key);
  }

  async lookup(key: string): Promise<string | undefined> {
    return this.entry(key)?.value;
  }

  async setAdd(key: string, member: string): Promise<void> {
    let members = this.sets.get(key);
    if (!members) this.sets.set(key, members = new Set());
    members.add(member);
  }

  async setRemove(key: string, member: string): Promise<void> {
    this.sets.get(key)?.delete(member);
  }

  async setMembers(key: string): Promise<string[]> {
    return [...(this.sets.get(key) ?? [])];
  }

  /** Removes a whole member set and returns what it held. */
  takeSet(key: string): string[] {
    const members = [...(this.sets.get(key) ?? [])];
    this.sets.delete(key);
    return members;
  }

  async schedule(key: string, member: string, at: number): Promise<void> {
    let schedule = this.schedules.get(key);
    if (!schedule) this.schedules.set(key, schedule = new Map());
    schedule.set(member, at);
  }

  async unschedule(key: string, member: string): Promise<void> {
    this.schedules.get(key)?.delete(member);
  }

  async takeDue(key: string, now: number, limit: number, lease: number): Promise<string[]> {
    const schedule = this.schedules.get(key);
    if (!schedule) return [];
    const due = [...schedule].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]).slice(0, limit).map(([member]) => member);
    for (const member of due) schedule.set(member, now + lease);
    return due;
  }

  rateLimiter(options: RateLimitOptions): RateLimiter {
    return rateLimiterOver(new RateLimiterMemory({
      keyPrefix: `ratelimit:${options.name}`, points: options.points, duration: options.duration, blockDuration: options.blockDuration,
    }));
  }

  async publish(channel: string, message: string): Promise<void> {
    this.bus.emit(channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    this.bus.on(channel, onMessage);
  }

  oidcAdapter(model: string): Adapter {
    let adapter = this.adapters.get(model);
    if (!adapter) {
      adapter = new MemoryOidcAdapter(this, model);
      this.adapters.set(model, adapter);
    }
    return adapter;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.bus.removeAllListeners();
  }
}

class MemoryOidcAdapter implements Adapter {
  constructor(private readonly store: MemoryStore, private readonly model: string) {}

  private key(id: string): string {
    return `oidc:${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.key(id);
    this.store.write(key, JSON.stringify(payload), expiresIn, true);
    if (GRANTABLE_MODELS.has(this.model) && payload.grantId) {
      await this.store.setAdd(`${GRANT_INDEX_PREFIX}${payload.grantId}`, key);
    }
    if (payload.uid) this.store.write(`oidc:uid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) this.store.write(`oidc:userCode:${payload.userCode}`, id, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const entry = this.store.entry(this.key(id));
    if (!entry) return undefined;
    const payload = JSON.parse(entry.value) as AdapterPayload;
    return entry.consumed ? { ...payload, consumed: entry.consumed } : payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.store.lookup(`oidc:uid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = await this.store.lookup(`oidc:userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id: string): Promise<void> {
    if (!CONSUMABLE_MODELS.has(this.model)) return;
    // single-threaded: check-and-set without an await in between is atomic
    const entry = this.store.entry(this.key(id));
    if (!entry || entry.consumed) throw alreadyConsumed(this.model);
    entry.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    await this.store.delete([this.key(id)]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.store.delete(this.store.takeSet(`${GRANT_INDEX_PREFIX}${grantId}`));
  }
}
