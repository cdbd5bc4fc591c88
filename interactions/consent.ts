import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

interface MissingGrants {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/**
 * Answers the consent prompt of a first-party app: consent is implicit, the grant is extended
 * to what is missing and the flow goes on without a page. (Third-party clients are asked on
 * the first party's Consent URI: third-party-consent.ts.)
 */
export async function answerFirstPartyConsent(provider: Provider, details: Details): Promise<InteractionResults> {
  const missing = details.prompt.details as MissingGrants;
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return { consent: { grantId: await grant.save() } };
}
