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

/**
 * Guessing of device user codes (RFC 8628 5.1): wrong codes are counted per browser session
 * and per IP address in the store, so the count holds across every instance, and reaching
 * either limit locks code entry for that session or address. A locked caller is refused
 * before any code is looked up, so it cannot learn whether a guess would have been right.
 */
export class UserCodeGuessing {
  private readonly limits: Limit[];

  constructor(store: Store) {
    // rate-limiter-flexible refuses once more than `points` are spent: with limit - 1 points,
    // the limit-th wrong code is the one that locks
    const limit = (name: string, wrongCodes: number) => store.rateLimiter({
      name, points: wrongCodes - 1, duration: LOCK_SECONDS, blockDuration: LOCK_SECONDS,
    });
    this.limits = [
      { limiter: limit('device-code-session', WRONG_CODES_PER_SESSION), key: (ctx) => {
        const session = ctx.cookies.get(SESSION_COOKIE, { signed: true });
        return session ? digest(session) : undefined;
      } },
      { limiter: limit('device-code-ip', WRONG_CODES_PER_IP), key: (ctx) => ctx.ip },
    ];
  }

  /** Seconds the caller must still wait, or undefined when code entry is open. Counts nothing. */
  async lockedFor(ctx: Context): Promise<number | undefined> {
    return this.spend(ctx, 0);
  }

  /** Counts one wrong code; the seconds of the lock when this one reached a limit. */
  async wrongCode(ctx: Context): Promise<number | undefined> {
    return this.spend(ctx, 1);
  }

  private async spend(ctx: Context, points: number): Promise<number | undefined> {
    const results = await Promise.all(this.limits.map(async ({ limiter, key }) => {
      const id = key(ctx);
      return id === undefined ? undefined : limiter.consume(id, points);
    }));
    const waits = results.filter((r) => r && !r.allowed).map((r) => Math.ceil(r!.retryAfterMs / 1000));
    return waits.length ? Math.max(1, ...waits) : undefined;
  }
}
