import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { ClientRecord, ClientService } from '../clients/service.js';
import { ApiError } from './errors.js';
import { describePermission, rolesGrant, rolesNotHeld } from './permissions.js';
import { declaredAccess } from './route-access.js';

/** The Bearer token of the request (RFC 6750 header form); a 401 challenge without one. */
export function bearerToken(ctx: Context): string {
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(ctx.get('authorization'));
  if (!match) throw new ApiError(401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
  return match[1]!;
}

const unauthorized = (description: string) => new ApiError(401, 'Unauthorized', {
  'WWW-Authenticate': `Bearer error="invalid_token", error_description="${description}"`,
});

/**
 * The client whose Bearer client access token (client_credentials at /oidc/token) authorises
 * the request. User tokens, expired, revoked, sender-constrained or resource-audience tokens
 * get 401.
 */
export async function clientOfAccessToken(provider: Provider, clients: ClientService, ctx: Context): Promise<ClientRecord> {
  const token = await provider.ClientCredentials.find(bearerToken(ctx));
  if (!token?.clientId || token.isExpired) throw unauthorized('access token is invalid or expired');
  // a DPoP- or certificate-bound token is only good with its proof, which our APIs do not check
  if (token.jkt || token['x5t#S256']) throw unauthorized('sender-constrained tokens are not accepted here');
  // a token issued for a resource server (RFC 8707 aud) is that server's, not ours
  if (token.aud) throw unauthorized('this token is for another audience');
  const client = await clients.find(token.clientId);
  if (!client) throw unauthorized('access token is invalid or expired');
  return client;
}

/**
 * Management APIs take a client access token whose client holds a role that grants the
 * permission the matched route declares (lib/http/route-access.ts, lib/http/permissions.ts).
 */
export function requireManagementPermission(provider: Provider, clients: ClientService, routers: readonly Router[]): Middleware {
  return async (ctx, next) => {
    const client = await clientOfAccessToken(provider, clients, ctx);
    for (const { permission } of declaredAccess(routers, ctx, 'management')) {
      if (!rolesGrant(client.roles, permission)) {
        throw new ApiError(403, `Forbidden: the client's roles do not grant ${describePermission(permission)}`);
      }
    }
    ctx.state.managementClientId = client.client_id;
    ctx.state.managementRoles = client.roles;
    await next();
  };
}

/**
 * 403 unless the calling management client holds every one of the roles (see rolesNotHeld);
 * `action` completes the reason: "only a client holding admin (or admin) may <action>".
 */
export function requireHeldRoles(ctx: Context, roles: readonly unknown[], action = 'assign it or manage a client that holds it'): void {
  const missing = rolesNotHeld(ctx.state.managementRoles as string[], roles.filter((r): r is string => typeof r === 'string'));
  if (missing.length) throw new ApiError(403, `Forbidden: only a client holding ${missing.join(', ')} (or admin) may ${action}`);
}
