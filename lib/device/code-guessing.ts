import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import type { RateLimiter, Store } from '../../adapters/store.js';

/** Wrong user codes a browser session may enter before code entry is locked for it. */
export const WRONG_CODES_PER_SESSION = 5;
/** The same per client IP address: higher, as many people may share one (NAT, office). */
export const WRONG_CODES_PER_IP = 20;
/** Wrong codes add up over this window, and a lock lasts this long (seconds). */
export const LOCK_SECONDS = 15 * 60;

/** oidc-provider's browser session cookie (its default name; we do not rename it). */
const SESSION_COOKIE = '_session';

interface Limit {
  limiter: RateLimiter;
  key(ctx: Context): string | undefined;
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64url');

/** What one code entry counted, kept on the request until its outcome is known. */
interface Attempt {
  counted: Array<{ limiter: RateLimiter; id: string }>;
  /** this entry used the last code a limit allows */
  last: boolean;
  wrong: boolean;
}

const attempts = new WeakMap<Context, Attempt>();

/**
 * Guessing of device user codes (RFC 8628 5.1): code entries are counted per browser session
 * and per IP address in the store, so the count holds across every instance, and reaching
 * either limit locks code entry for that session or address. Each entry is counted before
 * oidc-provider looks its code up (and given back unless the code was wrong), so that codes
 * sent at once cannot all be checked before the first is counted. A locked caller is refused
 * before any code is looked up, so it cannot learn whether a guess would have been right.
 */
export class UserCodeGuessing {
  private readonly limits: Limit[];

  constructor(store: Store) {
    // rate-limiter-flexible refuses once more than `points` are spent
    const limit = (name: string, wrongCodes: number) => store.rateLimiter({
      name, points: wrongCodes, duration: LOCK_SECONDS, blockDuration: LOCK_SECONDS,
    });
    this.limits = [
      { limiter: limit('device-code-session', WRONG_CODES_PER_SESSION), key: (ctx) => {
        const session = ctx.cookies.get(SESSION_COOKIE, { signed: true });
        return session ? digest(session) : undefined;
      } },
      { limiter: limit('device-code-ip', WRONG_CODES_PER_IP), key: (ctx) => ctx.ip },
    ];
  }

  /**
   * Counts a code entry before its code is checked. Seconds the caller must wait when code
   * entry is locked (the entry then counts nowhere).
   */
  async attempt(ctx: Context): Promise<number | undefined> {
    const counted = (await Promise.all(this.limits.map(async ({ limiter, key }) => {
      const id = key(ctx);
      return id === undefined ? undefined : { limiter, id, result: await limiter.consume(id) };
    }))).filter((c) => c !== undefined);
    const refused = counted.filter((c) => !c.result.allowed);
    if (refused.length) {
      await Promise.all(counted.filter((c) => c.result.allowed).map((c) => c.limiter.refund(c.id)));
      return Math.max(1, ...refused.map((c) => Math.ceil(c.result.retryAfterMs / 1000)));
    }
    attempts.set(ctx, { counted, last: counted.some((c) => c.result.remaining === 0), wrong: false });
    return undefined;
  }

  /** The entered code was wrong: it stays counted. The seconds of the lock when it was the last one allowed. */
  wrongCode(ctx: Context): number | undefined {
    const attempt = attempts.get(ctx);
    if (!attempt) return undefined;
    attempt.wrong = true;
    return attempt.last ? LOCK_SECONDS : undefined;
  }

  /** After the request: an entry that was no wrong code (a right one, a confirmation, a cancel) is given back. */
  async settle(ctx: Context): Promise<void> {
    const attempt = attempts.get(ctx);
    attempts.delete(ctx);
    if (!attempt || attempt.wrong) return;
    await Promise.all(attempt.counted.map((c) => c.limiter.refund(c.id)));
  }
}
