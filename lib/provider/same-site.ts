import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ClientExtras } from './client-extras.js';

/** oidc-provider's back-channel endpoints (paths below the mount, any case as its router). */
const NEVER_SETS_COOKIES = /^\/(?:token|me|jwks|request|backchannel|device\/auth|reg|\.well-known)(?:\/|$)/i;

/**
 * Seed 001 "SameSite": a client may have the IdP's cookies set with `SameSite=None` during its
 * flows (sign-in inside an iframe, cross-site POST), instead of the default `Lax`.
 * oidc-provider has one cookie configuration for all clients, so this rewrites the attribute
 * on the cookies a request of such a client sets. Browsers only accept `None` on `Secure`
 * cookies, so it applies only when the IdP is served over https.
 */
export function sameSitePerClient(secureCookies: boolean): Middleware {
  const rewrite: Middleware = async (ctx, next) => {
    await next();
    const client = (ctx as unknown as KoaContextWithOIDC).oidc?.client as ClientExtras | undefined;
    if (client?.same_site !== 'none') return;
    const cookies = ctx.response.get('set-cookie') as unknown as string[] | string;
    if (!cookies || cookies.length === 0) return;
    ctx.set('set-cookie', (Array.isArray(cookies) ? cookies : [cookies]).map((cookie) => cookie.replace(/;\s*samesite=lax/i, '; samesite=none')));
  };
  // endpoints that never set cookies pass straight through (no async layer on their path)
  return (ctx, next) => (secureCookies && !NEVER_SETS_COOKIES.test(ctx.path) ? rewrite(ctx, next) : next());
}
