import { EventEmitter } from 'node:events';
import type { AdapterPayload } from 'oidc-provider';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import {
  type OidcAdapter, type Pace, type PaceOptions, type RateLimiter, type RateLimitOptions, type RecordIndexes, type Store, type Versioned,
  CONSUMABLE_MODELS, GRANTABLE_MODELS, rateLimiterOver, withinReuseWindow,
} from './store.js';
import { epochSeconds } from '../lib/time.js';
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
  /** expiry (epoch ms) of the sets given a TTL by setAdd */
  private readonly setExpiries = new Map<string, number>();
  private readonly schedules = new Map<string, Map<string, number>>();
  private readonly bus = new EventEmitter();
  private readonly adapters = new Map<string, MemoryOidcAdapter>();
  private readonly recordIndexes = new Map<string, RecordIndexes>();
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
    for (const key of this.setExpiries.keys()) this.liveSet(key);
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
      this.setExpiries.delete(key);
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

  /** Live set or undefined; an expired set is dropped on access. */
  private liveSet(key: string): Set<string> | undefined {
    const expiresAt = this.setExpiries.get(key);
    if (expiresAt !== undefined && expiresAt <= Date.now()) {
      this.sets.delete(key);
      this.setExpiries.delete(key);
    }
    return this.sets.get(key);
  }

  async setAdd(key: string, member: string, ttl?: number): Promise<void> {
    let members = this.liveSet(key);
    if (!members) this.sets.set(key, members = new Set());
    members.add(member);
    if (ttl) this.setExpiries.set(key, Math.max(this.setExpiries.get(key) ?? 0, Date.now() + ttl * 1000));
  }

  async setRemove(key: string, member: string): Promise<void> {
    this.liveSet(key)?.delete(member);
  }

  async setMembers(key: string): Promise<string[]> {
    return [...(this.liveSet(key) ?? [])];
  }

  /** Removes a whole member set and returns what it held. */
  takeSet(key: string): string[] {
    const members = [...(this.liveSet(key) ?? [])];
    this.sets.delete(key);
    this.setExpiries.delete(key);
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

  async pace(key: string, { now, interval, step, toleranceMs, ttl }: PaceOptions): Promise<Pace> {
    // no await between read and write: atomic on the single thread
    const last = this.entry(key);
    const previous = last ? JSON.parse(last.value) as { at: number; interval: number } : undefined;
    const onTime = !previous || now - previous.at >= previous.interval * 1000 - toleranceMs;
    const current = (previous?.interval ?? interval) + (onTime ? 0 : step);
    this.write(key, JSON.stringify({ at: now, interval: current }), ttl);
    return { onTime, interval: current };
  }

  async publish(channel: string, message: string): Promise<void> {
    this.bus.emit(channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    this.bus.on(channel, onMessage);
  }

  oidcAdapter(model: string): MemoryOidcAdapter {
    let adapter = this.adapters.get(model);
    if (!adapter) {
      adapter = new MemoryOidcAdapter(this, model);
      this.adapters.set(model, adapter);
    }
    return adapter;
  }

  async replaceOidcRecord(model: string, id: string, expected: AdapterPayload, next: AdapterPayload, expiresIn?: number): Promise<boolean> {
    return this.oidcAdapter(model).replace(id, expected, next, expiresIn);
  }

  indexOidcRecords(model: string, indexesOf: RecordIndexes): void {
    this.recordIndexes.set(model, indexesOf);
  }

  /** The index sets a record of `model` joins (indexOidcRecords). */
  indexesOf(model: string, payload: AdapterPayload): string[] {
    return this.recordIndexes.get(model)?.(payload) ?? [];
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.bus.removeAllListeners();
  }
}

class MemoryOidcAdapter implements OidcAdapter {
  constructor(private readonly store: MemoryStore, private readonly model: string) {}

  private key(id: string): string {
    return `oidc:${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.write(id, payload, expiresIn);
  }

  /** upsert, if the stored payload is still `expected`; no await in between: atomic on the single thread */
  async replace(id: string, expected: AdapterPayload, next: AdapterPayload, expiresIn?: number): Promise<boolean> {
    if (this.store.entry(this.key(id))?.value !== JSON.stringify(expected)) return false;
    this.write(id, next, expiresIn);
    return true;
  }

  private write(id: string, payload: AdapterPayload, expiresIn?: number): void {
    const key = this.key(id);
    this.store.write(key, JSON.stringify(payload), expiresIn, true);
    if (GRANTABLE_MODELS.has(this.model) && payload.grantId) {
      void this.store.setAdd(`${GRANT_INDEX_PREFIX}${payload.grantId}`, key);
    }
    for (const index of this.store.indexesOf(this.model, payload)) void this.store.setAdd(index, id, expiresIn);
    if (payload.uid) this.store.write(`oidc:uid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) this.store.write(`oidc:userCode:${payload.userCode}`, id, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const entry = this.store.entry(this.key(id));
    if (!entry) return undefined;
    const payload = JSON.parse(entry.value) as AdapterPayload;
    return entry.consumed ? { ...payload, consumed: entry.consumed } : payload;
  }

  async findWithGrant(id: string): Promise<{ record?: AdapterPayload; grant?: AdapterPayload }> {
    const record = await this.find(id);
    const grantId = record?.grantId;
    return { record, grant: typeof grantId === 'string' ? await this.store.oidcAdapter('Grant').find(grantId) : undefined };
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.store.lookup(`oidc:uid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = await this.store.lookup(`oidc:userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id: string, reuseWindow = 0): Promise<void> {
    if (!CONSUMABLE_MODELS.has(this.model)) return;
    // single-threaded: check-and-set without an await in between is atomic
    const entry = this.store.entry(this.key(id));
    const now = epochSeconds();
    if (entry?.consumed !== undefined && withinReuseWindow(entry.consumed, reuseWindow, now)) return;
    if (!entry || entry.consumed !== undefined) throw alreadyConsumed(this.model);
    entry.consumed = now;
  }

  async destroy(id: string): Promise<void> {
    await this.store.delete([this.key(id)]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.store.delete(this.store.takeSet(`${GRANT_INDEX_PREFIX}${grantId}`));
  }
}
