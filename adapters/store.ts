import type { Adapter } from 'oidc-provider';

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

  /** Unique index entry `key -> owner`: true when now owned by `owner` (new or already). */
  claim(key: string, owner: string): Promise<boolean>;
  /** Removes an index entry, only if `owner` holds it. */
  release(key: string, owner: string): Promise<void>;
  lookup(key: string): Promise<string | undefined>;

  setAdd(key: string, member: string): Promise<void>;
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

  /** Cross-instance notifications (cache invalidation). */
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void, onResync: () => void): Promise<void>;

  /** oidc-provider adapter for one model, persisted in this store. */
  oidcAdapter(model: string): Adapter;

  ping(): Promise<void>;
  close(): Promise<void>;
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
