import type { KoaContextWithOIDC } from 'oidc-provider';
import { epochSeconds } from '../time.js';

/**
 * oidc-provider's `ttl.Session`: a session lives `seconds` from its last authentication
 * (seed 004: "valid for two weeks unless authentication occurs; with each new authentication,
 * the session expiration is updated"). oidc-provider saves the session on every authorization
 * request, silent ones (prompt=none) included; counting from loginTs keeps those from extending it.
 * A session nobody signed in to yet (logout state only) gets the whole lifetime.
 */
export function sessionLifetime(seconds: number) {
  return (_ctx: KoaContextWithOIDC | undefined, session: { loginTs?: number }): number => (session.loginTs ? Math.max(1, session.loginTs + seconds - epochSeconds()) : seconds);
}
