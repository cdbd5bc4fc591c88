import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { ConsentService } from '../lib/consents/service.js';
import type { ConsentDecision, ConsentRequests } from '../lib/consents/requests.js';
import type { ClientExtras } from '../lib/provider/client-extras.js';
import { claimsOfScopes } from '../lib/provider/account.js';
import { epochSeconds } from '../lib/time.js';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>> & ClientExtras;

export interface ThirdPartyConsentDeps {
  provider: Provider;
  consents: ConsentService;
  requests: ConsentRequests;
  /** the tenant's OIDC scopes; other requested values are not user-consentable scopes */
  scopes: readonly string[];
  /** validity of a consent for clients saved before `consent_ttl` existed */
  defaultConsentTtl: number;
}

/** Seed 000's wording, which third parties match on. */
export const DENIED = { error: 'access_denied', error_description: 'User denied consent to requested scope' };
const REVOKED_MEANWHILE = { error: 'access_denied', error_description: 'The consent was revoked while it was being given' };

const words = (value: unknown) => (typeof value === 'string' ? value.split(' ').filter(Boolean) : []);

/**
 * Seed 000 step 3: the consent of a third-party client is asked on the first party's Consent
 * URI and answered through `/auth/consent/callback`; this module builds the question and
 * applies the answer to the user's Grant.
 */
export class ThirdPartyConsent {
  constructor(private readonly deps: ThirdPartyConsentDeps) {}

  /**
   * The Consent URI with `src_interaction`, `requested_scope` (repeated, one scope each) and,
   * as context for the page, `client_id`, `client_name`, `granted_scope` (repeated: what the
   * user already agreed to) and `ui_locales`. Without `prompt=consent` only the scopes not yet consented
   * are requested. Every scope shown is one the client is allowed: oidc-provider refuses a
   * request for any other tenant scope with `invalid_scope`, and ignores unknown values.
   */
  async consentPageUrl(details: Details, client: Client, continuePath: string): Promise<string> {
    const userId = details.session!.accountId;
    const requested = words(details.params.scope).filter((scope) => this.deps.scopes.includes(scope));
    const granted = (await this.deps.consents.findActive(userId, client.clientId))?.scopes ?? [];
    const forced = details.prompt.reasons.includes('consent_prompt');
    const missing = requested.filter((scope) => !granted.includes(scope));
    // when only `claims` are missing there is no new scope: ask about the request as a whole
    const shown = forced || missing.length === 0 ? requested : missing;

    const handle = await this.deps.requests.open({
      uid: details.uid,
      client_id: client.clientId,
      user_id: userId,
      scopes: shown,
      continue_path: continuePath,
      expires_at: details.exp,
    });
    const url = new URL(client.consent_uris![0]!);
    url.searchParams.append('src_interaction', handle);
    for (const scope of shown) url.searchParams.append('requested_scope', scope);
    url.searchParams.append('client_id', client.clientId);
    if (client.clientName) url.searchParams.append('client_name', client.clientName);
    for (const scope of granted) url.searchParams.append('granted_scope', scope);
    if (typeof details.params.ui_locales === 'string') url.searchParams.append('ui_locales', details.params.ui_locales);
    return url.href;
  }

  /** The parked answer of the consent page for this interaction, if it belongs to this user and client. */
  async takeDecision(details: Details, browserBinding: string | undefined): Promise<ConsentDecision | undefined> {
    const decision = await this.deps.requests.takeDecision(details.uid, browserBinding);
    const sameParties = decision?.user_id === details.session?.accountId && decision?.client_id === details.params.client_id;
    return sameParties ? decision : undefined;
  }

  /**
   * Applies an answer. An approval adds the shown scopes to this session's Grant and to the
   * user's consent, and (re)starts the consent's validity period; a receipt is written. The
   * scopes of a requested resource (RFC 8707) are granted with it, to this session's Grant
   * only: they are not shown to the page nor kept with the consent.
   */
  async apply(details: Details, client: Client, decision: ConsentDecision): Promise<InteractionResults> {
    const { provider, consents } = this.deps;
    const userId = details.session!.accountId;
    const actor = { type: 'user' as const, id: userId };
    if (!decision.approved) {
      await consents.recordDenial(userId, client.clientId, decision.scopes, actor);
      return DENIED;
    }

    const consent = await consents.recordApproval({
      user_id: userId,
      client_id: client.clientId,
      approved: decision.scopes,
      expires_at: epochSeconds() + (client.consent_ttl ?? this.deps.defaultConsentTtl),
      actor,
    });
    // this session's Grant if the consent holds it; not one of a consent revoked or expired
    // meanwhile, which has scopes no longer agreed to: a new Grant then. Either way it holds
    // what the consent covers now (the approved scopes included).
    const current = details.grantId && await consents.hasGrant(consent, details.grantId);
    const grant = (current && await provider.Grant.find(details.grantId!))
      || new provider.Grant({ accountId: userId, clientId: client.clientId });
    grant.addOIDCScope(consent.scopes.join(' '));
    // claims asked for through `claims` are granted when an approved scope covers them; the
    // rest are rejected, so they are neither released nor asked for again in this session
    const covered = claimsOfScopes(words(grant.getOIDCScope()));
    const missingClaims = (details.prompt.details.missingOIDCClaims as string[] | undefined) ?? [];
    const [allowed, rejected] = [missingClaims.filter((c) => covered.has(c)), missingClaims.filter((c) => !covered.has(c))];
    if (allowed.length) grant.addOIDCClaims(allowed);
    if (rejected.length) grant.rejectOIDCClaims(rejected);
    const missingResourceScopes = (details.prompt.details.missingResourceScopes as Record<string, string[]> | undefined) ?? {};
    for (const [indicator, scopes] of Object.entries(missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    grant.exp = consent.expires_at;
    const grantId = await grant.save();
    // a revocation meanwhile destroyed the Grant (saving it whole may have brought it back):
    // attachGrant sees the consent gone and destroys it again
    if (!(await consents.attachGrant(consent, grantId))) return REVOKED_MEANWHILE;
    return { consent: { grantId } };
  }
}
