import { createHash } from 'node:crypto';
import Router from '@koa/router';
import * as yup from 'yup';
import { errors, type AccessToken } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Store } from '../../adapters/store.js';
import { ApiError, conflict } from '../http/errors.js';
import { validateBody } from '../http/validate.js';
import { epochSeconds } from '../time.js';
import { claimsWithinScopes } from '../provider/account.js';

export const CIBA_COMPLETE_PATH = '/auth/backchannel/complete';

const completionSchema = yup.object({
  auth_req_id: yup.string().max(256).required(),
  approved: yup.boolean().strict().required(),
}).noUnknown();

/**
 * How the user authenticated for the access token they present: the session it was issued
 * in (our hosted login records amr/acr there). Without it there is nothing to vouch for.
 */
async function authenticationOf(provider: Provider, token: AccessToken) {
  const session = token.sessionUid ? await provider.Session.findByUid(token.sessionUid) : undefined;
  if (!session || session.accountId !== token.accountId) {
    throw new ApiError(401, 'Unauthorized: the sign-in session of this access token has ended, sign in again', {
      'WWW-Authenticate': 'Bearer error="invalid_token", error_description="the sign-in session has ended"',
    });
  }
  return { acr: session.acr, amr: session.amr, authTime: session.authTime(), sessionUid: session.uid };
}

/**
 * `POST /auth/backchannel/complete` (seed 003 step 1): the first party's login page reports
 * the user's answer to a backchannel request, with the user's own access token (checked by
 * requireUserToken). Only the user the request names may answer it, once, before it
 * expires. An approval becomes a Grant for the requesting client with the requested scopes
 * and claims, and the next poll gets tokens carrying how the user authenticated; a decline
 * makes the next poll `access_denied`.
 */
export function cibaCompleteRoutes({ provider, store }: { provider: Provider; store: Store }): Router {
  const router = new Router();

  router.post(CIBA_COMPLETE_PATH, async (ctx) => {
    const { auth_req_id: id, approved } = validateBody(completionSchema, ctx.request.body);
    const token: AccessToken = ctx.state.accessToken;
    const request = await provider.BackchannelAuthenticationRequest.find(id, { ignoreExpiration: true });
    if (!request || request.isExpired) throw new ApiError(400, 'auth_req_id is unknown or has expired');
    if (request.accountId !== token.accountId) throw new ApiError(403, 'Forbidden: this request is for another user');
    // the requesting client must not vouch for itself with a token it already holds for the user
    if (token.clientId === request.clientId) throw new ApiError(403, 'Forbidden: the requesting client cannot answer its own request');
    const authentication = approved ? await authenticationOf(provider, token) : undefined;
    // the user must have signed in for this request, not at some earlier time
    if (authentication && (authentication.authTime ?? 0) < request.iat!) {
      throw new ApiError(403, 'Forbidden: the user must sign in after the request was made (use prompt=login)');
    }

    // one answer per request, also when two arrive at once; the marker lives as long as the request can be answered
    const marker = `ciba-answered:${createHash('sha256').update(id).digest('base64url')}`;
    if (!(await store.createJSON(marker, { approved }, Math.max(1, request.exp! - epochSeconds())))) {
      throw conflict('This request has already been answered');
    }

    try {
      if (authentication) {
        const grant = new provider.Grant({ accountId: token.accountId, clientId: request.clientId });
        if (request.scope) grant.addOIDCScope(request.scope);
        const client = await provider.Client.find(request.clientId!);
        const { granted, rejected } = claimsWithinScopes(
          [...Object.keys(request.claims?.id_token ?? {}), ...Object.keys(request.claims?.userinfo ?? {})], client?.scope,
        );
        if (granted.length) grant.addOIDCClaims(granted);
        if (rejected.length) grant.rejectOIDCClaims(rejected);
        const resources = request.resource === undefined ? [] : [request.resource].flat();
        for (const resource of resources) grant.addResourceScope(resource, request.scope ?? '');
        await grant.save();
        await provider.backchannelResult(request, grant, authentication);
      } else {
        // backchannelResult stores the error code; the description travels in errorDescription
        request.errorDescription = 'the user declined the request';
        await provider.backchannelResult(request, new errors.AccessDenied(request.errorDescription));
      }
    } catch (err) {
      // not answered after all: the user may try again
      await store.delete([marker]);
      throw err;
    }
    ctx.body = { auth_req_id: id, approved };
  });

  return router;
}
