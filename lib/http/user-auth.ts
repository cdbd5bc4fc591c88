import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { isThirdParty } from '../../policies/first-party.js';
import { ApiError } from './errors.js';
import { bearerToken } from './admin-auth.js';

const invalidToken = (description: string) => new ApiError(401, 'Unauthorized', {
  'WWW-Authenticate': `Bearer error="invalid_token", error_description="${description}"`,
});

/**
 * Self-service APIs (`/v1/me/...`) and the CIBA completion take the user's own access token,
 * issued to one of the tenant's first-party apps: a third-party client must never manage the
 * user's consents nor answer for the user.
 * The token's Grant must still exist (revoked consent, logout or expiry end it).
 * Sender-constrained tokens are refused here: this endpoint checks no DPoP or mTLS proof.
 */
export function requireUserToken(provider: Provider): Middleware {
  return async (ctx, next) => {
    const token = await provider.AccessToken.find(bearerToken(ctx));
    if (!token?.accountId || token.isExpired) throw invalidToken('access token is invalid or expired');
    const grant = token.grantId ? await provider.Grant.find(token.grantId) : undefined;
    if (!grant || grant.accountId !== token.accountId || grant.clientId !== token.clientId) {
      throw invalidToken('access token is invalid or expired');
    }
    if (token.jkt || token['x5t#S256']) throw invalidToken('sender-constrained tokens are not accepted here');
    if (token.aud) throw invalidToken('this token is for another audience');
    const client = await provider.Client.find(token.clientId!);
    if (!client || isThirdParty(client)) throw new ApiError(403, 'Forbidden: only tokens of the tenant\'s own apps are accepted here');
    ctx.state.userId = token.accountId;
    ctx.state.accessToken = token;
    await next();
  };
}
