import { randomUUID } from 'node:crypto';
import type { Store } from '../../adapters/index.js';
import { conflict, notFound } from '../http/errors.js';
import { NotifiedCache } from '../notified-cache.js';
import { changeRecord } from '../records.js';
import { epochSeconds } from '../time.js';
import { PasswordGuessing, type GuessSource } from './password-guessing.js';
import { DECOY_HASH, hashPassword, verifyPassword } from './passwords.js';
import type { UserInput } from './schema.js';

export interface User extends Omit<UserInput, 'password'> {
  user_id: string;
  email_verified: boolean;
  phone_number_verified: boolean;
  created_at: number;
  updated_at: number;
  last_auth?: number;
}

/** A password sign-in: the user, a wrong identifier or password, or guessing locked out. */
export type PasswordCheck =
  | { outcome: 'signed-in'; user: User }
  | { outcome: 'wrong' }
  | { outcome: 'locked'; retryAfterSeconds: number };

interface StoredUser extends User {
  password_hash?: string;
}

/** Login identifiers, each unique per tenant. */
const IDENTIFIERS = ['email', 'phone_number', 'username'] as const;
type Identifier = typeof IDENTIFIERS[number];

const userKey = (id: string) => `user:${id}`;
const indexKey = (field: Identifier, value: string) => `user-by-${field}:${value.toLowerCase()}`;

function publicView({ password_hash: _omit, ...user }: StoredUser): User {
  return user;
}

/**
 * Users. oidc-provider loads the account on every code, refresh and SSO request (claims), so
 * `find` is cached per process like clients are; every write drops the copies of all instances.
 *
 * Keys: user:<id> (StoredUser), user-by-<field>:<value> -> id (unique identifiers, claimed).
 * No method writes back a copy it read before an await: changes go through `changeRecord`
 * (compare-and-set on the freshest record, slow work such as hashing done before), and a
 * deletion takes the record, so every later change of it finds nothing (a delete wins).
 * `last_auth` stays in the record: a key of its own would need the same existence check on
 * every sign-in to not outlive a deleted user, and its writes would race the same way.
 */
export class UserService {
  /** public views only: password hashes are never kept in memory */
  private readonly cache: NotifiedCache<User>;
  private readonly guessing: PasswordGuessing;

  constructor(private readonly store: Store) {
    this.cache = new NotifiedCache(store, 'users:changed');
    this.guessing = new PasswordGuessing(store);
  }

  async start(): Promise<void> {
    await this.cache.start();
  }

  /**
   * Applies `change` to the freshest stored user (see changeRecord) and drops every
   * instance's cached copy; undefined when the user is gone.
   */
  private async change(userId: string, change: (current: StoredUser) => StoredUser | Promise<StoredUser>) {
    const changed = await changeRecord(this.store, userKey(userId), change);
    if (changed && changed.after !== changed.before) await this.cache.invalidate(userId);
    return changed;
  }

  async create(input: UserInput): Promise<User> {
    const now = epochSeconds();
    const { password, ...profile } = input;
    const user: StoredUser = {
      ...profile,
      user_id: randomUUID(),
      email_verified: input.email_verified ?? false,
      phone_number_verified: input.phone_number_verified ?? false,
      created_at: now,
      updated_at: now,
      password_hash: password ? await hashPassword(password) : undefined,
    };
    await this.claimIdentifiers(user, undefined);
    // a fresh id: nothing to overwrite; the miss may be cached, so drop it
    await this.store.putJSON(userKey(user.user_id), user);
    await this.cache.invalidate(user.user_id);
    return publicView(user);
  }

  async get(userId: string): Promise<User> {
    return publicView(await this.load(userId));
  }

  /** Cached read used by the protocol layer. */
  async find(userId: string): Promise<User | undefined> {
    return this.cache.get(userId, async () => {
      const user = await this.store.getJSON<StoredUser>(userKey(userId));
      return user && publicView(user);
    });
  }

  /** The user holding this email address or phone number, if any (case-insensitive, like sign-in). */
  async findBy(field: 'email' | 'phone_number', value: string): Promise<User | undefined> {
    const userId = value.trim() ? await this.store.lookup(indexKey(field, value.trim())) : undefined;
    return userId ? this.find(userId) : undefined;
  }

  /**
   * Merges the profile (and a new password's hash, computed first) onto the freshest record.
   * Identifiers taken for new values are given back if the write does not happen (a clash,
   * or the user deleted meanwhile); the values the write replaced are given back after it.
   */
  async update(userId: string, input: UserInput): Promise<User> {
    const { password, ...profile } = input;
    const passwordHash = password ? await hashPassword(password) : undefined;
    const claimed = new Set<string>();
    let lastSeen: StoredUser | undefined;
    let changed;
    try {
      changed = await this.change(userId, async (current) => {
        lastSeen = current;
        const next: StoredUser = { ...current, ...profile, updated_at: epochSeconds(), password_hash: passwordHash ?? current.password_hash };
        for (const key of await this.claimIdentifiers(next, current)) claimed.add(key);
        return next;
      });
    } catch (err) {
      await this.giveBack(claimed, userId, lastSeen);
      throw err;
    }
    if (!changed) {
      await this.giveBack(claimed, userId, undefined);
      throw notFound('User');
    }
    await this.releaseIdentifiers(changed.before, changed.after);
    return publicView(changed.after);
  }

  /** Taking the record is the deletion: any change still under way then finds no user. False: there was none. */
  async delete(userId: string): Promise<boolean> {
    const taken = await this.store.takeJSON<StoredUser>(userKey(userId));
    if (!taken) return false;
    await this.cache.invalidate(userId);
    await this.releaseIdentifiers(taken, undefined);
    return true;
  }

  /**
   * Password check for the hosted login and the backend password API. Unknown identifiers
   * cost one scrypt too, so timing tells nothing about which part was wrong; while guessing
   * is locked out (password-guessing.ts) the password is not checked at all.
   */
  async authenticate(identifier: string, password: string, source: GuessSource): Promise<PasswordCheck> {
    const user = await this.findStoredByIdentifier(identifier);
    const lockedFor = await this.guessing.attempt(identifier, user?.user_id, source);
    if (lockedFor !== undefined) return { outcome: 'locked', retryAfterSeconds: lockedFor };
    const ok = await verifyPassword(password, user?.password_hash ?? DECOY_HASH);
    if (!user || !ok || !user.password_hash) return { outcome: 'wrong' };
    // the password was checked against the record as read before scrypt: it counts only if
    // that hash is still the user's (not reset, not deleted meanwhile)
    const now = epochSeconds();
    const changed = await this.change(user.user_id, (current) => (
      current.password_hash === user.password_hash ? { ...current, last_auth: now } : current));
    if (!changed || changed.after.password_hash !== user.password_hash) return { outcome: 'wrong' };
    await this.guessing.succeeded(user.user_id, source);
    return { outcome: 'signed-in', user: publicView(changed.after) };
  }

  /** The user a login identifier (email, phone number or username) names. */
  async findByIdentifier(identifier: string): Promise<User | undefined> {
    const user = await this.findStoredByIdentifier(identifier);
    return user && publicView(user);
  }

  /** Records a successful sign-in by a method other than the password (the last_auth claim); false when the user is gone. */
  async recordAuthentication(userId: string): Promise<boolean> {
    const now = epochSeconds();
    return (await this.change(userId, (current) => ({ ...current, last_auth: now }))) !== undefined;
  }

  private async findStoredByIdentifier(identifier: string): Promise<StoredUser | undefined> {
    const value = identifier.trim();
    if (!value || value.length > 254) return undefined;
    for (const field of IDENTIFIERS) {
      const userId = await this.store.lookup(indexKey(field, value));
      if (userId) return this.store.getJSON<StoredUser>(userKey(userId));
    }
    return undefined;
  }

  private async load(userId: string): Promise<StoredUser> {
    const user = await this.store.getJSON<StoredUser>(userKey(userId));
    if (!user) throw notFound('User');
    return user;
  }

  /**
   * Claims every identifier of `next` that `current` does not hold; the keys claimed. On a
   * clash, gives back what this call claimed and answers 409.
   */
  private async claimIdentifiers(next: StoredUser, current: StoredUser | undefined): Promise<string[]> {
    const claimed: string[] = [];
    for (const field of IDENTIFIERS) {
      const value = next[field];
      if (!value || value.toLowerCase() === current?.[field]?.toLowerCase()) continue;
      const key = indexKey(field, value);
      if (!(await this.store.claim(key, next.user_id))) {
        await Promise.all(claimed.map((k) => this.store.release(k, next.user_id)));
        throw conflict(`${field} is already in use`);
      }
      claimed.push(key);
    }
    return claimed;
  }

  /** Gives back claims of an update that was not written, except those the record (as last seen) holds. */
  private async giveBack(claimed: Set<string>, userId: string, record: StoredUser | undefined): Promise<void> {
    const held = new Set(IDENTIFIERS.map((field) => record?.[field] && indexKey(field, record[field])));
    await Promise.all([...claimed].filter((key) => !held.has(key)).map((key) => this.store.release(key, userId)));
  }

  private async releaseIdentifiers(previous: StoredUser, next: StoredUser | undefined): Promise<void> {
    for (const field of IDENTIFIERS) {
      const value = previous[field];
      if (value && value.toLowerCase() !== next?.[field]?.toLowerCase()) {
        await this.store.release(indexKey(field, value), previous.user_id);
      }
    }
  }
}
