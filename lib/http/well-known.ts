import type { Context } from 'koa';

/** Where RFC 8414 clients look for the metadata of the issuer `https://host/oidc` (section 3.1: the well-known segment goes before the issuer's path). */
const AUTHORIZATION_SERVER_METADATA = '/.well-known/oauth-authorization-server/oidc';
/** Where oidc-provider serves the same document (OpenID Connect Discovery 1.0). */
const OPENID_CONFIGURATION = '/oidc/.well-known/openid-configuration';

/**
 * Serves the RFC 8414 metadata path from oidc-provider's discovery document: the request is
 * taken as one for the document itself (its URL too, from which oidc-provider builds every
 * endpoint URL), so both places answer the same document with the same issuer.
 */
export function asDiscoveryRequest(ctx: Context): void {
  if (ctx.path !== AUTHORIZATION_SERVER_METADATA || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return;
  ctx.url = OPENID_CONFIGURATION;
  ctx.originalUrl = OPENID_CONFIGURATION;
}
