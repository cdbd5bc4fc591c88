import type { KoaContextWithOIDC } from 'oidc-provider';
import { epochSeconds } from '../time.js';

/**
 * oidc-provider's `ttl.Session`: a session lives `seconds` from its last authentication
 * (seed 004: "valid for two weeks unless authentication occurs; with each new authentication,
 * the session expiration is updated"). oidc-provider saves the session on every authorization
 * request, silent ones (prompt=none) included; counting from loginTs keeps those from extending it.
 * A session nobody signed in to (what the device and logout pages keep for their anti-CSRF
 * secret, for any cookieless visitor) lives `anonymousSeconds`, an interaction's lifetime: a
 * stream of anonymous requests cannot fill the store with two-week records.
 */
export function sessionLifetime(seconds: number, anonymousSeconds: number) {
  return (_ctx: KoaContextWithOIDC | undefined, session: { accountId?: string; loginTs?: number }): number =>
    (session.accountId && session.loginTs ? Math.max(1, session.loginTs + seconds - epochSeconds()) : anonymousSeconds);
}
