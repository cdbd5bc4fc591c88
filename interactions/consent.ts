import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { isThirdParty } from '../policies/first-party.js';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

interface MissingGrants {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/**
 * Answers the consent prompt. First-party apps consent implicitly: the grant is extended to
 * what is missing and the flow goes on without a page. Third-party consent happens on the
 * first party's Consent URI, which this build does not offer yet, so it is refused.
 */
export async function answerConsent(provider: Provider, details: Details): Promise<InteractionResults> {
  const client = await provider.Client.find(String(details.params.client_id));
  if (isThirdParty(client)) {
    return { error: 'access_denied', error_description: 'third-party consent is not configured' };
  }
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
