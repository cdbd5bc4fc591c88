import { createHash } from 'node:crypto';
import type { RateLimiter, Store } from '../../adapters/store.js';

/** Wrong passwords for one account from one source; the next attempt of that pair is refused. */
export const WRONG_PASSWORDS_PER_SOURCE = 10;
/**
 * Wrong passwords for one account from all sources together, by any of its identifiers (NIST
 * SP 800-63B 5.2.2 asks for at most 100 per account). Higher than the per-source limit, so
 * that an attacker elsewhere must work much longer before the owner is locked out too.
 */
export const WRONG_PASSWORDS_PER_ACCOUNT = 100;
/**
 * Wrong passwords from one IP address for any identifiers (password spraying). Not applied to
 * a backend client: all of its users' attempts come from it, and it would lock them all.
 */
export const WRONG_PASSWORDS_PER_IP = 100;
/** Wrong passwords add up over this window, and a lock lasts this long (seconds). */
export const LOCK_SECONDS = 15 * 60;

const digest = (value: string) => createHash('sha256').update(value).digest('base64url');

/**
 * Where the guesses come from: a browser's IP address (hosted login), or the first-party
 * client calling the backend password API for its users (its address is its server's).
 */
export type GuessSource = { ip: string } | { client: string };

interface Limit {
  limiter: RateLimiter;
  /** undefined: the limit does not apply to this source */
  key(target: string, source: GuessSource): string | undefined;
}

const sourceName = (source: GuessSource) => ('ip' in source ? `ip:${source.ip}` : `client:${source.client}`);

/**
 * What guesses are counted against: the account an identifier names, whichever of its
 * identifiers (email, username, phone number) spells it, so that its spellings do not each
 * get a ceiling of their own; an identifier that names nobody counts as itself (normalised),
 * so that a lock behaves the same and does not tell which accounts exist.
 */
const accountTarget = (accountId: string) => `account:${accountId}`;
const targetOf = (identifier: string, accountId: string | undefined) =>
  (accountId === undefined ? `unknown:${normalise(identifier)}` : accountTarget(accountId));

/**
 * Online password guessing: wrong passwords are counted in the store (so the counts hold
 * across instances) per account and source, per account, and per IP address. Once a count is
 * reached, the pair, the account or the address is locked: the password is not checked at
 * all, so a locked caller learns nothing. A correct password clears its pair's count only.
 */
export class PasswordGuessing {
  private readonly limits: Limit[];
  private readonly pair: Limit;

  constructor(store: Store) {
    // rate-limiter-flexible refuses once more than `points` are spent: every attempt spends
    // one, and a right password gives it back
    const limiter = (name: string, wrongPasswords: number) => store.rateLimiter({
      name, points: wrongPasswords, duration: LOCK_SECONDS, blockDuration: LOCK_SECONDS,
    });
    this.pair = {
      limiter: limiter('password-pair', WRONG_PASSWORDS_PER_SOURCE),
      key: (target, source) => digest(`${target}\n${sourceName(source)}`),
    };
    this.limits = [
      this.pair,
      { limiter: limiter('password-account', WRONG_PASSWORDS_PER_ACCOUNT), key: (target) => digest(target) },
      { limiter: limiter('password-ip', WRONG_PASSWORDS_PER_IP), key: (_, source) => ('ip' in source ? digest(source.ip) : undefined) },
    ];
  }

  /**
   * Counts an attempt before its password is checked, so that guesses sent at once cannot all
   * pass before the first is counted. Seconds the caller must wait when over a limit (the
   * attempt then counts nowhere: a locked pair cannot go on to lock the whole account).
   * `accountId`: the account `identifier` names, if any.
   */
  async attempt(identifier: string, accountId: string | undefined, source: GuessSource): Promise<number | undefined> {
    const target = targetOf(identifier, accountId);
    const counted = (await Promise.all(this.limits.map(async ({ limiter, key }) => {
      const id = key(target, source);
      return id === undefined ? undefined : { limiter, id, result: await limiter.consume(id) };
    }))).filter((c) => c !== undefined);
    const refused = counted.filter((c) => !c.result.allowed);
    if (!refused.length) return undefined;
    await Promise.all(counted.filter((c) => c.result.allowed).map((c) => c.limiter.refund(c.id)));
    return Math.max(1, ...refused.map((c) => Math.ceil(c.result.retryAfterMs / 1000)));
  }

  /** The password was right: the attempt does not count, and the pair starts again. */
  async succeeded(accountId: string, source: GuessSource): Promise<void> {
    const target = accountTarget(accountId);
    await Promise.all(this.limits.map(({ limiter, key }) => {
      const id = key(target, source);
      if (id === undefined) return undefined;
      return limiter === this.pair.limiter ? limiter.reset(id) : limiter.refund(id);
    }));
  }
}

/** Identifiers are matched case-insensitively (users/service.ts), so they are counted so too. */
function normalise(identifier: string): string {
  return identifier.trim().toLowerCase();
}
