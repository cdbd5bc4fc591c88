import type { KoaContextWithOIDC } from 'oidc-provider';
import { isThirdParty } from './first-party.js';

/**
 * `loadExistingGrant` hook. First-party clients get implicit consent: the grant is extended
 * to whatever they request (their allowed scopes are already enforced by client metadata),
 * so SSO with `prompt=none` works for every app of the tenant. Third-party clients only see
 * grants the user really gave.
 */
export async function loadExistingGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const grantId = oidc.result?.consent?.grantId || oidc.session?.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (isThirdParty(client)) return existing;

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
