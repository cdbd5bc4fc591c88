import type { AdapterPayload } from 'oidc-provider';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import {
  type OidcAdapter, type Pace, type PaceOptions, type RateLimiter, type RateLimitOptions, type RecordIndexes, type Store, type Versioned,
  CONSUMABLE_MODELS, GRANTABLE_MODELS, rateLimiterOver,
} from './store.js';
import { epochSeconds } from '../lib/time.js';
import { alreadyConsumed } from './consume-error.js';
import {
  type RedisClient, type RedisTopology, type Subscriber, closeRedis, connectRedis, connectSubscriber,
} from './redis-connection.js';

/*
 * Key layout (all below the configured prefix, default "idp:"):
 *   oidc:<Model>:<id>      hash { p: payload JSON, c: consumed-at epoch } with the model's TTL
 *   oidc:grant:<grantId>   set of the keys above that belong to one grant (revokeByGrantId)
 *   oidc:uid:<uid>         -> id (Session.findByUid)
 *   oidc:userCode:<code>   -> id (DeviceCode.findByUserCode)
 *   everything else        domain documents written by the services (users, clients, ...)
 * No request path scans the keyspace. Scripts and MGET/DEL touch several keys at once: on
 * Redis Cluster the prefix carries a hash tag ("{idp}:") so that all of them share one slot.
 */

/** Seconds a grant index is kept beyond the member that extended it (see UPSERT). */
const GRANT_INDEX_HEADROOM = 86_400;

// one command instead of MULTI, so it joins ioredis's auto-pipeline: the record with its
// TTL (ARGV[2], 0 = none), then per further key its role from ARGV[4..]: 'grant' adds the
// record (ARGV[3]) to a grant index that lives at least as long as its longest-lived member,
// 'alias' points a lookup key at the record's id (ARGV[4 + #roles]), 'member' adds that id
// to an index set (Store.indexOidcRecords) whose expiry only moves later. A grant index is extended
// with GRANT_INDEX_HEADROOM to spare, so that the members that follow (the access token of
// the same response, a refresh token's successor) find it long enough: a TTL read, no EXPIRE.
const UPSERT = `
    redis.call('hset', KEYS[1], 'p', ARGV[1])
    local ttl = tonumber(ARGV[2])
    if ttl > 0 then redis.call('expire', KEYS[1], ttl) else redis.call('persist', KEYS[1]) end
    local id = ARGV[#ARGV]
    for i = 2, #KEYS do
      if ARGV[i + 2] == 'member' then
        redis.call('sadd', KEYS[i], id)
        if ttl > 0 then
          redis.call('expire', KEYS[i], ttl, 'NX')
          redis.call('expire', KEYS[i], ttl, 'GT')
        end
      elseif ARGV[i + 2] == 'grant' then
        redis.call('sadd', KEYS[i], ARGV[3])
        if ttl > 0 and redis.call('ttl', KEYS[i]) < ttl then redis.call('expire', KEYS[i], ttl + ${GRANT_INDEX_HEADROOM}) end
      elseif ttl > 0 then redis.call('set', KEYS[i], id, 'EX', ttl)
      else redis.call('set', KEYS[i], id) end
    end`;

const LUA = {
  upsert: UPSERT,
  // upsert's write, only if the stored payload is still the last argument (compare-and-set): 1, else 0
  replaceRecord: `
    local expected = table.remove(ARGV)
    if redis.call('hget', KEYS[1], 'p') ~= expected then return 0 end
    ${UPSERT}
    return 1`,
  // a record through a lookup key (uid, userCode) in one round trip: [payload, consumed-at] or nil
  findByAlias: `
    local id = redis.call('get', KEYS[1])
    if not id then return nil end
    return redis.call('hmget', ARGV[1] .. id, 'p', 'c')`,
  // a record and the Grant its payload names (ARGV[1]: the Grant key without the id):
  // [payload, consumed-at, grant payload, grant consumed-at], or nil
  findWithGrant: `
    local record = redis.call('hmget', KEYS[1], 'p', 'c')
    if not record[1] then return nil end
    local grantId = cjson.decode(record[1]).grantId
    if type(grantId) ~= 'string' then return record end
    local grant = redis.call('hmget', ARGV[1] .. grantId, 'p', 'c')
    return { record[1], record[2], grant[1], grant[2] }`,
  // 1 = consumed by this call, 2 = consumed before but within the reuse window (ARGV[2]
  // seconds, store.ts withinReuseWindow), 0 = consumed before, -1 = no such (or expired) record
  consume: `
    if redis.call('exists', KEYS[1]) == 0 then return -1 end
    if redis.call('hsetnx', KEYS[1], 'c', ARGV[1]) == 1 then return 1 end
    local window = tonumber(ARGV[2])
    if window > 0 and tonumber(ARGV[1]) - tonumber(redis.call('hget', KEYS[1], 'c')) <= window then return 2 end
    return 0`,
  // deletes every record of a grant, then the index itself
  revokeGrant: `
    local members = redis.call('smembers', KEYS[1])
    for _, key in ipairs(members) do redis.call('del', ARGV[1] .. key) end
    redis.call('del', KEYS[1])
    return #members`,
  // SADD, then an expiry that only moves later (ARGV[2] seconds; 0 = leave it as it is)
  setAdd: `
    redis.call('sadd', KEYS[1], ARGV[1])
    local ttl = tonumber(ARGV[2])
    if ttl > 0 then
      redis.call('expire', KEYS[1], ttl, 'NX')
      redis.call('expire', KEYS[1], ttl, 'GT')
    end`,
  claim: `
    local owner = redis.call('get', KEYS[1])
    if owner == false then redis.call('set', KEYS[1], ARGV[1]) return 1 end
    if owner == ARGV[1] then return 1 end
    return 0`,
  takeDue: `
    local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
    for _, member in ipairs(due) do redis.call('zadd', KEYS[1], 'XX', ARGV[1] + ARGV[3], member) end
    return due`,
  release: `
    if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
    return 0`,
  // hash { at: previous call (ms), interval: seconds }; ARGV: now, interval, step, tolerance, ttl
  pace: `
    local last = redis.call('hmget', KEYS[1], 'at', 'interval')
    local now = tonumber(ARGV[1])
    local interval = tonumber(last[2] or ARGV[2])
    local onTime = 1
    if last[1] and now - tonumber(last[1]) < interval * 1000 - tonumber(ARGV[4]) then
      interval = interval + tonumber(ARGV[3])
      onTime = 0
    end
    redis.call('hset', KEYS[1], 'at', ARGV[1], 'interval', interval)
    redis.call('expire', KEYS[1], ARGV[5])
    return { onTime, interval }`,
  // compare-and-set: writes ARGV[2] (TTL ARGV[3], 0 = none) only while the key holds the
  // revision ARGV[1]; an absent key (GET gives false) never matches, so a deletion wins
  replaceDocument: `
    if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
    local ttl = tonumber(ARGV[3])
    if ttl > 0 then redis.call('set', KEYS[1], ARGV[2], 'EX', ttl) else redis.call('set', KEYS[1], ARGV[2]) end
    return 1`,
};

type ScriptedRedis = RedisClient & {
  oidcUpsert(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<void>;
  oidcReplace(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<number>;
  oidcFindByAlias(key: string, recordPrefix: string): Promise<Array<string | null> | null>;
  oidcFindWithGrant(key: string, grantPrefix: string): Promise<Array<string | null> | null>;
  oidcConsume(key: string, at: number, reuseWindow: number): Promise<number>;
  oidcRevokeGrant(key: string, prefix: string): Promise<number>;
  storeSetAdd(key: string, member: string, ttl: number): Promise<void>;
  storeClaim(key: string, owner: string): Promise<number>;
  storeRelease(key: string, owner: string): Promise<number>;
  storeReplace(key: string, revision: string, value: string, ttl: number): Promise<number>;
  storeTakeDue(key: string, now: number, limit: number, lease: number): Promise<string[]>;
  storePace(key: string, now: number, interval: number, step: number, toleranceMs: number, ttl: number): Promise<[number, number]>;
};

/** Where Redis is: a redis:// or rediss:// URL (one server), or any topology (redis-connection.ts). */
export type RedisStoreOptions = {
  keyPrefix: string;
  /** connection errors (refused, TLS, auth, timeouts): requests see them as failing commands */
  onConnectionError?: (err: Error) => void;
} & ({ url: string } | { topology: RedisTopology });

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly redis: ScriptedRedis;
  private readonly topology: RedisTopology;
  private subscriber?: Subscriber;
  private readonly handlers = new Map<string, (message: string) => void>();
  private readonly resyncs: Array<() => void> = [];
  private readonly adapters = new Map<string, RedisOidcAdapter>();
  private readonly recordIndexes = new Map<string, RecordIndexes>();

  constructor(private readonly options: RedisStoreOptions) {
    this.topology = 'url' in options ? { kind: 'single', url: options.url } : options.topology;
    this.redis = connectRedis(this.topology, options.keyPrefix) as ScriptedRedis;
    // surfaced to requests through failing commands and /readyz; to the operator through this
    this.redis.on('error', (err: Error) => options.onConnectionError?.(err));
    this.redis.defineCommand('oidcUpsert', { lua: LUA.upsert });
    this.redis.defineCommand('oidcReplace', { lua: LUA.replaceRecord });
    this.redis.defineCommand('oidcFindByAlias', { numberOfKeys: 1, lua: LUA.findByAlias });
    this.redis.defineCommand('oidcFindWithGrant', { numberOfKeys: 1, lua: LUA.findWithGrant });
    this.redis.defineCommand('oidcConsume', { numberOfKeys: 1, lua: LUA.consume });
    this.redis.defineCommand('oidcRevokeGrant', { numberOfKeys: 1, lua: LUA.revokeGrant });
    this.redis.defineCommand('storeSetAdd', { numberOfKeys: 1, lua: LUA.setAdd });
    this.redis.defineCommand('storeClaim', { numberOfKeys: 1, lua: LUA.claim });
    this.redis.defineCommand('storeRelease', { numberOfKeys: 1, lua: LUA.release });
    this.redis.defineCommand('storeReplace', { numberOfKeys: 1, lua: LUA.replaceDocument });
    this.redis.defineCommand('storeTakeDue', { numberOfKeys: 1, lua: LUA.takeDue });
    this.redis.defineCommand('storePace', { numberOfKeys: 1, lua: LUA.pace });
  }

  async getJSON<T>(key: string): Promise<T | undefined> {
    const raw = await this.redis.get(key);
    return raw === null ? undefined : JSON.parse(raw) as T;
  }

  async getManyJSON<T>(keys: string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return [];
    const raws = await this.redis.mget(keys);
    return raws.map((raw) => (raw === null ? undefined : JSON.parse(raw) as T));
  }

  async putJSON(key: string, value: unknown, ttl?: number): Promise<void> {
    if (ttl) await this.redis.set(key, JSON.stringify(value), 'EX', ttl);
    else await this.redis.set(key, JSON.stringify(value));
  }

  async createJSON(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const result = ttl
      ? await this.redis.set(key, JSON.stringify(value), 'EX', ttl, 'NX')
      : await this.redis.set(key, JSON.stringify(value), 'NX');
    return result === 'OK';
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length) await this.redis.del(keys);
  }

  async takeJSON<T>(key: string): Promise<T | undefined> {
    const raw = await this.redis.getdel(key);
    return raw === null ? undefined : JSON.parse(raw) as T;
  }

  async readJSON<T>(key: string): Promise<Versioned<T> | undefined> {
    const raw = await this.redis.get(key);
    return raw === null ? undefined : { value: JSON.parse(raw) as T, revision: raw };
  }

  async replaceJSON(key: string, revision: string, value: unknown, ttl?: number): Promise<boolean> {
    return (await this.redis.storeReplace(key, revision, JSON.stringify(value), ttl ?? 0)) === 1;
  }

  async removeJSON(key: string, revision: string): Promise<boolean> {
    // the same compare-and-delete as release: the revision is the stored text
    return (await this.redis.storeRelease(key, revision)) === 1;
  }

  async claim(key: string, owner: string): Promise<boolean> {
    return (await this.redis.storeClaim(key, owner)) === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.redis.storeRelease(key, owner);
  }

  async lookup(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async setAdd(key: string, member: string, ttl?: number): Promise<void> {
    if (ttl) await this.redis.storeSetAdd(key, member, Math.max(1, Math.ceil(ttl)));
    else await this.redis.sadd(key, member);
  }

  async setRemove(key: string, member: string): Promise<void> {
    await this.redis.srem(key, member);
  }

  async setMembers(key: string): Promise<string[]> {
    return this.redis.smembers(key);
  }

  async schedule(key: string, member: string, at: number): Promise<void> {
    await this.redis.zadd(key, at, member);
  }

  async unschedule(key: string, member: string): Promise<void> {
    await this.redis.zrem(key, member);
  }

  async takeDue(key: string, now: number, limit: number, lease: number): Promise<string[]> {
    return this.redis.storeTakeDue(key, now, limit, lease);
  }

  rateLimiter(options: RateLimitOptions): RateLimiter {
    return rateLimiterOver(new RateLimiterRedis({
      storeClient: this.redis, keyPrefix: `ratelimit:${options.name}`,
      points: options.points, duration: options.duration, blockDuration: options.blockDuration,
    }));
  }

  async pace(key: string, { now, interval, step, toleranceMs, ttl }: PaceOptions): Promise<Pace> {
    const [onTime, current] = await this.redis.storePace(key, now, interval, step, toleranceMs, ttl);
    return { onTime: onTime === 1, interval: current };
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.options.keyPrefix + channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void, onResync: () => void): Promise<void> {
    // messages published while we were disconnected are lost: drop caches on reconnect
    this.subscriber ??= connectSubscriber(
      this.topology, this.redis,
      (ch, message) => this.handlers.get(ch)?.(message),
      () => this.resyncs.forEach((resync) => resync()),
    );
    this.handlers.set(this.options.keyPrefix + channel, onMessage);
    this.resyncs.push(onResync);
    await this.subscriber.subscribe(this.options.keyPrefix + channel);
  }

  oidcAdapter(model: string): RedisOidcAdapter {
    let adapter = this.adapters.get(model);
    if (!adapter) {
      adapter = new RedisOidcAdapter(this.redis, this.options.keyPrefix, model, this.recordIndexes);
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

  /** A read of a key, not PING: on Cluster it must reach the node that holds the store's slot. */
  async ping(): Promise<void> {
    await this.redis.exists('readyz');
  }

  async close(): Promise<void> {
    this.subscriber?.close();
    await closeRedis(this.redis, this.topology);
  }
}

/** A record's hash fields (payload, consumed-at) as oidc-provider expects the record. */
function parseRecord(fields: Array<string | null> | null): AdapterPayload | undefined {
  const [payload, consumed] = fields ?? [null, null];
  if (!payload) return undefined;
  const parsed = JSON.parse(payload) as AdapterPayload;
  return consumed ? { ...parsed, consumed: Number(consumed) } : parsed;
}

class RedisOidcAdapter implements OidcAdapter {
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly prefix: string,
    private readonly model: string,
    private readonly indexes: ReadonlyMap<string, RecordIndexes>,
  ) {}

  private key(id: string): string {
    return `oidc:${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    await this.redis.oidcUpsert(...this.upsertArguments(id, payload, expiresIn));
  }

  /** upsert, if the stored payload is still `expected` (find's answer, so without `consumed`) */
  async replace(id: string, expected: AdapterPayload, next: AdapterPayload, expiresIn?: number): Promise<boolean> {
    return (await this.redis.oidcReplace(...this.upsertArguments(id, next, expiresIn), JSON.stringify(expected))) === 1;
  }

  /** The keys and arguments of the upsert script: the record, then its grant index and lookups. */
  private upsertArguments(id: string, payload: AdapterPayload, expiresIn?: number): [number, ...Array<string | number>] {
    const key = this.key(id);
    const related: Array<[string, 'grant' | 'alias' | 'member']> = [];
    for (const index of this.indexes.get(this.model)?.(payload) ?? []) related.push([index, 'member']);
    if (GRANTABLE_MODELS.has(this.model) && payload.grantId) related.push([`oidc:grant:${payload.grantId}`, 'grant']);
    if (payload.uid) related.push([`oidc:uid:${payload.uid}`, 'alias']);
    if (payload.userCode) related.push([`oidc:userCode:${payload.userCode}`, 'alias']);
    return [
      1 + related.length, key, ...related.map(([k]) => k),
      JSON.stringify(payload), expiresIn ?? 0, key, ...related.map(([, role]) => role), id,
    ];
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return parseRecord(await this.redis.hmget(this.key(id), 'p', 'c'));
  }

  async findWithGrant(id: string): Promise<{ record?: AdapterPayload; grant?: AdapterPayload }> {
    const fields = await this.redis.oidcFindWithGrant(this.key(id), `${this.prefix}oidc:Grant:`);
    return { record: parseRecord(fields?.slice(0, 2) ?? null), grant: parseRecord(fields?.slice(2, 4) ?? null) };
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return parseRecord(await this.redis.oidcFindByAlias(`oidc:uid:${uid}`, this.prefix + this.key('')));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return parseRecord(await this.redis.oidcFindByAlias(`oidc:userCode:${userCode}`, this.prefix + this.key('')));
  }

  async consume(id: string, reuseWindow = 0): Promise<void> {
    if (!CONSUMABLE_MODELS.has(this.model)) return;
    const result = await this.redis.oidcConsume(this.key(id), epochSeconds(), reuseWindow);
    if (result !== 1 && result !== 2) throw alreadyConsumed(this.model);
  }

  async destroy(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.redis.oidcRevokeGrant(`oidc:grant:${grantId}`, this.prefix);
  }
}
