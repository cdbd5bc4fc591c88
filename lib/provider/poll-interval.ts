import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Store } from '../../adapters/store.js';

/** The grants a client polls for, and the parameter naming what it polls. */
const POLLED = new Map([
  ['urn:ietf:params:oauth:grant-type:device_code', 'device_code'],
  ['urn:openid:params:grant-type:ciba', 'auth_req_id'],
]);
/** Where the interval is advertised. */
const ADVERTISING_ROUTES = new Set(['device_authorization', 'backchannel_authentication']);
/** The token endpoint and the two advertising ones (paths below the mount, any case as its router). */
const POLLING_PATHS = /^\/(?:token|device\/auth|backchannel)\/?$/i;
/** RFC 8628 3.5: each slow_down adds 5 seconds to the interval. */
const SLOW_DOWN_STEP = 5;
/** Network jitter a well-behaved client may show. */
const GRACE_MS = 250;
/** How long a poll record is kept: longer than any device code or CIBA request lives. */
const RECORD_TTL = 3600;

/**
 * The polling interval of the device flow (RFC 8628) and CIBA poll mode, which oidc-provider
 * neither advertises nor enforces: `interval` is added to the device authorization and
 * backchannel responses, and a client that asks again sooner than its interval while the
 * request is still pending gets `slow_down` (and 5 more seconds to wait). A poll that finds
 * tokens ready always gets them.
 */
export function pollInterval(store: Store, interval: number): Middleware {
  const around: Middleware = async (ctx, next) => {
    await next();
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    if (!oidc) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ADVERTISING_ROUTES.has(oidc.route) && ctx.status === 200 && body && typeof body === 'object') {
      ctx.body = { ...body, interval };
      return;
    }
    const param = oidc.route === 'token' ? POLLED.get(String(oidc.params?.grant_type)) : undefined;
    const code = param ? oidc.params?.[param] : undefined;
    if (typeof code !== 'string' || ctx.status !== 400 || body?.error !== 'authorization_pending') return;

    // one atomic step: of polls sent at once, only the first finds the interval over
    const key = `poll-pace:${createHash('sha256').update(code).digest('base64url')}`;
    const pace = await store.pace(key, { now: Date.now(), interval, step: SLOW_DOWN_STEP, toleranceMs: GRACE_MS, ttl: RECORD_TTL });
    if (!pace.onTime) {
      ctx.body = { error: 'slow_down', error_description: `polling too fast: wait at least ${pace.interval} seconds between requests` };
    }
  };
  // other endpoints pass straight through (no async layer on their path)
  return (ctx, next) => (POLLING_PATHS.test(ctx.path) ? around(ctx, next) : next());
}
