import { randomUUID } from 'node:crypto';
import type { Store } from '../../adapters/index.js';
import { conflict, notFound } from '../http/errors.js';
import { NotifiedCache } from '../notified-cache.js';
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

  /** Writes a user and drops every instance's cached copy. */
  private async write(user: StoredUser): Promise<void> {
    await this.store.putJSON(userKey(user.user_id), user);
    await this.cache.invalidate(user.user_id);
  }

  async create(input: UserInput): Promise<User> {
    const now = Math.floor(Date.now() / 1000);
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
    await this.write(user);
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

  async update(userId: string, input: UserInput): Promise<User> {
    const current = await this.load(userId);
    const { password, ...profile } = input;
    const next: StoredUser = {
      ...current,
      ...profile,
      updated_at: Math.floor(Date.now() / 1000),
      password_hash: password ? await hashPassword(password) : current.password_hash,
    };
    await this.claimIdentifiers(next, current);
    await this.write(next);
    await this.releaseIdentifiers(current, next);
    return publicView(next);
  }

  async delete(userId: string): Promise<void> {
    const current = await this.load(userId);
    await this.store.delete([userKey(userId)]);
    await this.cache.invalidate(userId);
    await this.releaseIdentifiers(current, undefined);
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
    await this.guessing.succeeded(user.user_id, source);
    const now = Math.floor(Date.now() / 1000);
    await this.write({ ...user, last_auth: now });
    return { outcome: 'signed-in', user: publicView({ ...user, last_auth: now }) };
  }

  /** The user a login identifier (email, phone number or username) names. */
  async findByIdentifier(identifier: string): Promise<User | undefined> {
    const user = await this.findStoredByIdentifier(identifier);
    return user && publicView(user);
  }

  /** Records a successful sign-in by a method other than the password (the last_auth claim). */
  async recordAuthentication(userId: string): Promise<void> {
    const user = await this.store.getJSON<StoredUser>(userKey(userId));
    if (user) await this.write({ ...user, last_auth: Math.floor(Date.now() / 1000) });
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

  /** Claims every identifier of `next`; on a clash, gives back what this call claimed and answers 409. */
  private async claimIdentifiers(next: StoredUser, current: StoredUser | undefined): Promise<void> {
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
