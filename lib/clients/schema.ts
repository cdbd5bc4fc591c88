import * as yup from 'yup';
import { redirectUriProblem, type ClientType } from './redirect-uris.js';
import { PREDEFINED_CLAIMS } from '../provider/predefined-claims.js';
import { PROMPT_VALUES } from '../../policies/allowed-prompts.js';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export const PKCE_MODES = ['allow', 'enforce_with_secret', 'enforce_instead_of_secret'] as const;
export const ROLES = ['admin'] as const;

const DAY = 86_400;
const REFRESH_CHAIN_DEFAULT = 14 * DAY;

/** A selection of predefined claims (seed 001 "Pre-defined Custom Claims"). */
const claimList = () => yup.array(yup.string().oneOf(PREDEFINED_CLAIMS).required()).required();

/** A list of URIs under the redirect-URI rules of the client's type (or of a fixed one). */
function uriList(label: string, fixedType?: ClientType) {
  return yup.array(yup.string().max(2048).required()).max(50)
    .test('uri-rules', function check(uris) {
      const clientType = fixedType ?? (this.parent as { client_type?: ClientType }).client_type ?? 'web';
      for (const [i, uri] of (uris ?? []).entries()) {
        const problem = redirectUriProblem(uri, clientType);
        if (problem) return this.createError({ path: `${label}[${i}]`, message: `${label}[${i}]: ${problem}` });
      }
      return true;
    });
}

/** The full shape of a client's settings; POST validates it whole, PUT validates the merged result. */
export function clientSettingsSchema(allowedScopes: readonly string[]) {
  return yup.object({
    name: yup.string().trim().min(1).max(128).required(),
    description: yup.string().max(1024),
    client_type: yup.string().oneOf(['web', 'native'] as const).required(),
    redirect_uris: uriList('redirect_uris').required(),
    post_logout_redirect_uris: uriList('post_logout_redirect_uris').required(),
    grant_types: yup.array(yup.string().oneOf(GRANT_TYPES).required()).min(1).required(),
    scopes: yup.array(yup.string().oneOf([...allowedScopes]).required()).required(),
    token_endpoint_auth_method: yup.string().oneOf(AUTH_METHODS).required(),
    pkce: yup.string().oneOf(PKCE_MODES).required(),
    access_token_ttl: yup.number().integer().min(60).max(DAY).required(),
    refresh_token_ttl: yup.number().integer().min(1).max(365 * DAY).required(),
    // absolute lifetime of a rotating refresh-token chain; 2 weeks unless refresh_token_ttl is longer
    // (also for clients saved before this setting existed)
    max_refresh_token_ttl: yup.number().integer().max(365 * DAY)
      .when('refresh_token_ttl', ([refresh], schema) => (Number.isInteger(refresh)
        ? schema.min(refresh as number, '${path} must be at least refresh_token_ttl (${min})')
          .default(Math.max(REFRESH_CHAIN_DEFAULT, refresh as number))
        : schema)),
    session_ttl: yup.number().integer().min(1).max(365 * DAY).required(),
    third_party: yup.boolean().required(),
    // consent pages belong to the first party's web app: web rules whatever this client's type
    consent_uris: uriList('consent_uris', 'web').required(),
    consent_ttl: yup.number().integer().min(1).max(365 * DAY).required(),
    roles: yup.array(yup.string().oneOf(ROLES).required()).required(),
    id_token_claims: claimList(),
    userinfo_claims: claimList(),
    userinfo_includes_id_token_claims: yup.boolean().required(),
    allowed_prompts: yup.array(yup.string().oneOf(PROMPT_VALUES).required()).required(),
  }).noUnknown()
    .test('redirects-for-code', 'redirect_uris: at least one is required for authorization_code',
      (c) => !c.grant_types.includes('authorization_code') || c.redirect_uris.length > 0)
    .test('scopes-for-code', 'scopes: at least openid is required for authorization_code',
      (c) => !c.grant_types.includes('authorization_code') || c.scopes.includes('openid'))
    .test('refresh-needs-code', 'grant_types: refresh_token requires authorization_code',
      (c) => !c.grant_types.includes('refresh_token') || c.grant_types.includes('authorization_code'))
    .test('third-party-consent-uri', 'consent_uris: a third-party client needs at least one Consent URI',
      (c) => !c.third_party || c.consent_uris.length > 0)
    .test('third-party-no-roles', 'roles: a third-party client cannot hold management roles',
      (c) => !c.third_party || c.roles.length === 0)
    .test('public-no-client-credentials', 'grant_types: client_credentials needs a client secret (pkce enforce_instead_of_secret makes the client public)',
      (c) => c.pkce !== 'enforce_instead_of_secret' || !c.grant_types.includes('client_credentials'))
    .test('userinfo-claims-from-id-token', 'userinfo_claims: must be empty when userinfo_includes_id_token_claims is true (userinfo then returns id_token_claims)',
      (c) => !c.userinfo_includes_id_token_claims || c.userinfo_claims.length === 0);
}

export type ClientSettings = yup.InferType<ReturnType<typeof clientSettingsSchema>>;

/** Defaults of seed 001: web client, secret in the body, PKCE allowed, 60 min / 2 weeks / 2 weeks. */
export function defaultClientSettings(allowedScopes: readonly string[]): Omit<ClientSettings, 'name'> {
  return {
    client_type: 'web',
    redirect_uris: [],
    post_logout_redirect_uris: [],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes: [...allowedScopes],
    token_endpoint_auth_method: 'client_secret_post',
    pkce: 'allow',
    access_token_ttl: 3600,
    refresh_token_ttl: 14 * DAY,
    session_ttl: 14 * DAY,
    third_party: false,
    consent_uris: [],
    consent_ttl: 30 * DAY,
    roles: [],
    id_token_claims: [],
    userinfo_claims: [],
    userinfo_includes_id_token_claims: false,
    allowed_prompts: [...PROMPT_VALUES],
  };
}
