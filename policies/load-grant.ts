import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ConsentService } from '../lib/consents/service.js';
import { isThirdParty } from './first-party.js';
import { claimsOfScopes, claimsWithinScopes } from '../lib/provider/account.js';

/**
 * `loadExistingGrant` hook: decides what the user has already agreed to, and so whether the
 * consent prompt runs.
 *
 * Third-party clients get a Grant holding the user's unexpired consent (any browser, any
 * session), or the one the consent step just produced; without a consent every requested
 * scope is missing and the consent prompt sends the user to the Consent URI.
 *
 * First-party clients get implicit consent: the grant is extended to whatever they request
 * (their allowed scopes are already enforced by client metadata), so SSO with `prompt=none`
 * works for every app of the tenant.
 */
export function loadExistingGrantWith(consents: ConsentService) {
  return async function loadExistingGrant(ctx: KoaContextWithOIDC) {
    return isThirdParty(ctx.oidc.client) ? thirdPartyGrant(ctx, consents) : firstPartyGrant(ctx);
  };
}

/**
 * The Grant of this session for a third party, holding what the user's consent covers and
 * expiring with it. Grants are per session (logout ends them), the consent is not: a
 * session without a Grant under the consent gets a new one, registered with the consent so
 * that revoking the consent reaches it.
 */
async function thirdPartyGrant(ctx: KoaContextWithOIDC, consents: ConsentService) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const { Grant } = oidc.provider;
  if (oidc.result?.consent?.grantId) return Grant.find(oidc.result.consent.grantId);
  const consent = await consents.findActive(oidc.account!.accountId, client.clientId);
  if (!consent) return undefined;

  const sessionGrantId = oidc.session?.grantIdFor(client.clientId);
  const sessionGrant = sessionGrantId && await consents.hasGrant(consent, sessionGrantId)
    ? await Grant.find(sessionGrantId) : undefined;
  const grant = sessionGrant ?? new Grant({ accountId: oidc.account!.accountId, clientId: client.clientId });
  grant.addOIDCScope(consent.scopes.join(' '));
  const covered = claimsOfScopes(consent.scopes);
  const claims = [...oidc.requestParamClaims].filter((claim) => covered.has(claim));
  if (claims.length) grant.addOIDCClaims(claims);
  grant.exp = consent.expires_at;
  await grant.save();
  // also for the session's own Grant: saving it whole may have brought it back after a
  // revocation of the consent destroyed it; attachGrant sees that and destroys it again
  if (!(await consents.attachGrant(consent, grant.jti))) return undefined;
  return grant;
}

async function firstPartyGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const grantId = oidc.result?.consent?.grantId || oidc.session?.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;

  const scopes = [...oidc.requestParamOIDCScopes];
  // the `claims` parameter cannot reach past the client's scopes: claims no allowed scope
  // covers are refused (and so neither released nor prompted for)
  const requested = [...oidc.requestParamClaims];
  const { granted: claims, rejected: refused } = claimsWithinScopes(requested, client.scope);
  const resources = Object.entries(oidc.resourceServers ?? {});
  const covered = existing
    && scopes.every((s) => existing.getOIDCScope().split(' ').includes(s))
    && requested.every((c) => existing.getOIDCClaimsEncountered().includes(c))
    && resources.every(([indicator, rs]) => (rs.scope ?? '').split(' ').every((s) => !s || existing.getResourceScope(indicator).split(' ').includes(s)));
  if (covered) return existing;

  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId: oidc.account!.accountId });
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  if (claims.length) grant.addOIDCClaims(claims);
  if (refused.length) grant.rejectOIDCClaims(refused);
  for (const [indicator, rs] of resources) if (rs.scope) grant.addResourceScope(indicator, rs.scope);
  await grant.save();
  return grant;
}
