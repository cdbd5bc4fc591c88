import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * The storage port. Every byte the IdP keeps goes through one of these methods, so the
 * Redis implementation (`redis-store.ts`) and the embedded one (`memory-store.ts`) are
 * interchangeable and pass the same contract suite (test/adapters/).
 *
 * Values are JSON documents; TTLs are in seconds (undefined = no expiry).
 */
export interface Store {
  readonly kind: 'redis' | 'memory';

  getJSON<T>(key: string): Promise<T | undefined>;
  getManyJSON<T>(keys: string[]): Promise<Array<T | undefined>>;
  putJSON(key: string, value: unknown, ttl?: number): Promise<void>;
  /** Writes only when the key is absent; true when this call wrote it. */
  createJSON(key: string, value: unknown, ttl?: number): Promise<boolean>;
  delete(keys: string[]): Promise<void>;
  /** Reads and deletes in one step: of concurrent callers, exactly one gets the document. */
  takeJSON<T>(key: string): Promise<T | undefined>;

  /**
   * Optimistic concurrency: a document with its revision, for `replaceJSON`/`removeJSON`.
   * The revision is the stored JSON text itself: it changes with every write that changes the
   * document, needs no extra field or key (so `getJSON`/`putJSON`/`delete` keep working on the
   * same key), and cannot collide. An identical rewrite keeps the revision, which is harmless:
   * a change computed from identical content is still right. Documents are small (a user, a
   * consent), so sending the text back once costs little.
   */
  readJSON<T>(key: string): Promise<Versioned<T> | undefined>;
  /**
   * Writes `value` only if the key still holds `revision` (compare-and-set in one step): false
   * when another write got there first, or the key was deleted meanwhile, and then the key is
   * left as it is (a deleted key stays absent). TTL as in `putJSON`.
   */
  replaceJSON(key: string, revision: string, value: unknown, ttl?: number): Promise<boolean>;
  /** Deletes the key only if it still holds `revision`; true when this call deleted it. */
  removeJSON(key: string, revision: string): Promise<boolean>;

  /** Unique index entry `key -> owner`: true when now owned by `owner` (new or already). */
  claim(key: string, owner: string): Promise<boolean>;
  /** Removes an index entry, only if `owner` holds it. */
  release(key: string, owner: string): Promise<void>;
  lookup(key: string): Promise<string | undefined>;

  /**
   * With `ttl`, the set then lives at least `ttl` more seconds (its expiry only ever moves
   * later), so an index kept this way lives as long as its longest-lived member.
   */
  setAdd(key: string, member: string, ttl?: number): Promise<void>;
  setRemove(key: string, member: string): Promise<void>;
  setMembers(key: string): Promise<string[]>;

  /** A schedule (sorted by due time, epoch seconds); re-scheduling a member moves it. */
  schedule(key: string, member: string, at: number): Promise<void>;
  unschedule(key: string, member: string): Promise<void>;
  /**
   * Leases up to `limit` members due at `now`: each is returned to one caller only and comes
   * due again `lease` seconds later unless the caller unschedules (or re-schedules) it.
   */
  takeDue(key: string, now: number, limit: number, lease: number): Promise<string[]>;

  /**
   * A rate limiter kept in this store (rate-limiter-flexible), so a limit holds across every
   * instance that shares it: `points` per `duration` seconds for each key.
   */
  rateLimiter(options: RateLimitOptions): RateLimiter;

  /**
   * Paces the calls on one key (a client polling), in one atomic step: a call is on time when
   * at least the key's interval has passed since the previous call (less `toleranceMs`); a call
   * that comes sooner lengthens the interval by `step`. Either way it becomes the previous call.
   * Of concurrent first calls exactly one is on time.
   */
  pace(key: string, options: PaceOptions): Promise<Pace>;

  /** Cross-instance notifications (cache invalidation). */
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void, onResync: () => void): Promise<void>;

  /** oidc-provider adapter for one model, persisted in this store. */
  oidcAdapter(model: string): OidcAdapter;
  /**
   * Compare-and-set of an oidc-provider record: writes `next` as that model's `upsert` would
   * (TTL and lookups included) only if the stored payload is still exactly `expected` (as
   * `find` returned it). False if another write came first, or the record is gone.
   */
  replaceOidcRecord(model: string, id: string, expected: AdapterPayload, next: AdapterPayload, expiresIn?: number): Promise<boolean>;
  /**
   * From now on, every record of `model` this store saves (upsert, replaceOidcRecord) also joins
   * the sets `indexesOf` names for it, in the same step as its write (one script on Redis: no
   * extra round trip, and no moment when the record exists unindexed). Each set lives as long
   * as its longest-lived member, as with `setAdd`. One registration per model.
   */
  indexOidcRecords(model: string, indexesOf: RecordIndexes): void;

  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * oidc-provider's adapter, whose `consume` can also let through a record consumed within the
 * last `reuseWindow` seconds (`withinReuseWindow`; a refresh-token reuse interval), any number
 * of times and without moving the first consume's time. Without a window it is the library's
 * single use: a consumed (or missing) record throws.
 */
export interface OidcAdapter extends Adapter {
  consume(id: string, reuseWindow?: number): Promise<void>;
  /** `find`, and the Grant record its `grantId` names, read in one round trip. */
  findWithGrant(id: string): Promise<{ record?: AdapterPayload; grant?: AdapterPayload }>;
}

/**
 * Whether a record consumed at `consumedAt` may be used again at `now` (epoch seconds). The
 * window is counted in whole seconds and inclusive, so it lasts at least `window` seconds.
 * (redis-store.ts repeats this rule in its consume script.)
 */
export function withinReuseWindow(consumedAt: number, window: number, now: number): boolean {
  return window > 0 && now - consumedAt <= window;
}

/** The sets (keys) that list a record's id, by the record's payload. */
export type RecordIndexes = (payload: AdapterPayload) => string[];

export interface Versioned<T> {
  value: T;
  /** opaque: pass it back to replaceJSON/removeJSON */
  revision: string;
}

export interface RateLimitOptions {
  /** names this limit's keys apart from every other limit's */
  name: string;
  points: number;
  duration: number;
  /** once over the limit, stay blocked this long (seconds); default: until the window ends */
  blockDuration?: number;
}

export interface PaceOptions {
  /** this call's time, epoch milliseconds */
  now: number;
  /** the interval (seconds) of a key without calls yet */
  interval: number;
  /** seconds added to the interval by each call that comes too soon */
  step: number;
  toleranceMs: number;
  /** how long the key is kept after its last call (seconds) */
  ttl: number;
}

export interface Pace {
  onTime: boolean;
  /** the interval in force from now on (seconds) */
  interval: number;
}

export interface RateLimiter {
  /** Counts one attempt (or `points`) for the key; `allowed: false` once over the limit. */
  consume(key: string, points?: number): Promise<{ allowed: boolean; remaining: number; retryAfterMs: number }>;
  /** Gives back points counted before (an attempt that turned out not to count). */
  refund(key: string, points?: number): Promise<void>;
  /** Forgets the key's attempts (e.g. after a success). */
  reset(key: string): Promise<void>;
}

/** Adapts rate-limiter-flexible's limiter to our port: its rejection with a result means "over the limit". */
export function rateLimiterOver(limiter: {
  consume(key: string, points?: number): Promise<{ remainingPoints: number; msBeforeNext: number }>;
  reward(key: string, points?: number): Promise<unknown>;
  delete(key: string): Promise<boolean>;
}): RateLimiter {
  return {
    async consume(key, points = 1) {
      try {
        const result = await limiter.consume(key, points);
        return { allowed: true, remaining: result.remainingPoints, retryAfterMs: 0 };
      } catch (rejection) {
        if (rejection instanceof Error) throw rejection; // the store failed
        const result = rejection as { remainingPoints: number; msBeforeNext: number };
        return { allowed: false, remaining: result.remainingPoints, retryAfterMs: result.msBeforeNext };
      }
    },
    async refund(key, points = 1) {
      await limiter.reward(key, points);
    },
    async reset(key) {
      await limiter.delete(key);
    },
  };
}

/** Models whose records are single-use (`consume`). */
export const CONSUMABLE_MODELS = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
  'PreAuthorizedCode',
]);

/** Models that carry a `grantId` and must disappear with their grant. */
export const GRANTABLE_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);
