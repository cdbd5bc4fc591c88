import type { Context, Middleware } from 'koa';
import type { Client } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { ClientService } from '../clients/service.js';
import { clientOfAccessToken } from '../http/admin-auth.js';
import { ApiError } from '../http/errors.js';
import { isThirdParty } from '../../policies/first-party.js';

/**
 * `/v1/auth` takes the calling app's own client access token (no management role needed, see
 * lib/http/permissions.ts) and issues user tokens to that client only. Third-party clients are
 * refused: they would get a user's tokens without the user's consent. So are clients not
 * allowed the `openid` scope (machine clients): they cannot receive an ID token. A client whose
 * tokens must be sender-constrained cannot get here (its client access token is bound, 401).
 * The oidc-provider Client is left in `ctx.state.client`.
 */
export function requireAppClient(provider: Provider, clients: ClientService): Middleware {
  return async (ctx, next) => {
    const record = await clientOfAccessToken(provider, clients, ctx);
    const client = await provider.Client.find(record.client_id);
    if (!client) throw new ApiError(401, 'Unauthorized');
    if (isThirdParty(client)) throw new ApiError(403, 'Forbidden: third-party clients cannot authenticate users from their backend');
    if (!client.scope?.split(' ').includes('openid')) throw new ApiError(403, 'Forbidden: the client is not allowed the openid scope');
    ctx.state.client = client;
    await next();
  };
}

/** The calling app's oidc-provider Client, as requireAppClient found it. */
export const callingClient = (ctx: Context) => ctx.state.client as Client;
