import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ConsentService } from '../lib/consents/service.js';
import { isThirdParty } from './first-party.js';

/**
 * `loadExistingGrant` hook: decides what the user has already agreed to, and so whether the
 * consent prompt runs.
 *
 * Third-party clients get the Grant of the user's unexpired consent (any browser, any
 * session), or the one the consent step just produced; without one every requested scope
 * is missing and the consent prompt sends the user to the Consent URI.
 *
 * First-party clients get implicit consent: the grant is extended to whatever they request
 * (their allowed scopes are already enforced by client metadata), so SSO with `prompt=none`
 * works for every app of the tenant.
 */
export function loadExistingGrantWith(consents: ConsentService) {
  return async function loadExistingGrant(ctx: KoaContextWithOIDC) {
    const { oidc } = ctx;
    const client = oidc.client!;
    if (isThirdParty(client)) {
      const consentGrantId = oidc.result?.consent?.grantId
        ?? (await consents.findActive(oidc.account!.accountId, client.clientId))?.grant_id;
      return consentGrantId ? oidc.provider.Grant.find(consentGrantId) : undefined;
    }
    return firstPartyGrant(ctx);
  };
}

async function firstPartyGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const grantId = oidc.result?.consent?.grantId || oidc.session?.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;

  const scopes = [...oidc.requestParamOIDCScopes];
  const claims = [...oidc.requestParamClaims];
  const resources = Object.entries(oidc.resourceServers ?? {});
  const covered = existing
    && scopes.every((s) => existing.getOIDCScope().split(' ').includes(s))
    && claims.every((c) => existing.getOIDCClaims().includes(c))
    && resources.every(([indicator, rs]) => (rs.scope ?? '').split(' ').every((s) => !s || existing.getResourceScope(indicator).split(' ').includes(s)));
  if (covered) return existing;

  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId: oidc.account!.accountId });
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  if (claims.length) grant.addOIDCClaims(claims);
  for (const [indicator, rs] of resources) if (rs.scope) grant.addResourceScope(indicator, rs.scope);
  await grant.save();
  return grant;
}
