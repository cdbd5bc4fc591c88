import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import { type OidcAdapter, withinReuseWindow } from '../../adapters/store.js';
import { epochSeconds } from '../time.js';
import type { ClientExtras } from './client-extras.js';
import { isAlreadyConsumed } from '../../adapters/consume-error.js';
import type { RevokeGrant } from './reuse-revokes.js';

/**
 * Refresh-token rotation grace, what Okta and Auth0 call a reuse interval.
 *
 * oidc-provider rotates a refresh token on use and treats any later use of the old one as
 * theft: it revokes the whole grant (lib/actions/grants/refresh_token.js). An RP whose
 * workers refresh in parallel (mod_auth_openidc when a page loads a dozen resources) presents
 * the just-rotated token again a few milliseconds later and loses the user's session. For
 * `refresh_token_reuse_interval` seconds after the first use, this RefreshToken adapter
 * shows the consumed token to the refresh grant as unused and lets the store's consume
 * through again, so every presenter gets a sibling successor in the same grant; after the
 * window the library's reuse detection applies unchanged.
 *
 * Races: the grant's own read (`consumed`) and its consume are two steps. Of presenters
 * racing on a fresh token all pass the read; the store's consume (one atomic step) lets the
 * first one and, within the window, the others through. Without a window a loser of that race
 * is a reuse like any other: the family is revoked, as the library does for a late one
 * (reuse-revokes.ts does the same for codes).
 */
export function refreshTokenGrace(tokens: OidcAdapter, revokeGrant: RevokeGrant): Adapter {
  return {
    async find(id) {
      const payload = await tokens.find(id);
      if (payload?.consumed === undefined) return payload;
      if (!withinReuseWindow(payload.consumed, reuseWindow(payload.clientId), epochSeconds())) return payload;
      const { consumed: _consumed, ...unconsumed } = payload;
      return unconsumed as AdapterPayload;
    },
    async consume(id) {
      const presented = Provider.ctx?.oidc.entities.RefreshToken;
      try {
        await tokens.consume(id, reuseWindow(presented?.clientId));
      } catch (err) {
        // only a lost consume is a reuse; a store failure (the consume may have happened) is not
        if (presented?.grantId && isAlreadyConsumed(err)) await revokeGrant(presented.grantId);
        throw err;
      }
    },
    upsert: (id, payload, expiresIn) => tokens.upsert(id, payload, expiresIn),
    findByUid: (uid) => tokens.findByUid(uid),
    findByUserCode: (userCode) => tokens.findByUserCode(userCode),
    destroy: (id) => tokens.destroy(id),
    revokeByGrantId: (grantId) => tokens.revokeByGrantId(grantId),
  };
}

/**
 * The reuse interval that applies now: the presenting client's, and only at the token
 * endpoint's refresh grant for that client's own token (introspection, revocation and the
 * rest see a consumed token as consumed).
 */
function reuseWindow(tokenClientId: unknown): number {
  const ctx = Provider.ctx;
  if (ctx?.oidc.route !== 'token' || ctx.oidc.params?.grant_type !== 'refresh_token') return 0;
  const client = ctx.oidc.client as ClientExtras | undefined;
  if (!client || client.clientId !== tokenClientId) return 0;
  return client.refresh_token_reuse_interval ?? 0;
}
