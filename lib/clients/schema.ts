import * as yup from 'yup';
import { redirectUriProblem, type ClientType } from './redirect-uris.js';
import {
  hasCertificateKey, hasRsaEncryptionKey, hasSigningKey, jwksProblem, pemChainProblem, subjectDnProblem, type Jwks,
} from './key-material.js';
import { PREDEFINED_CLAIMS } from '../provider/predefined-claims.js';
import { PROMPT_VALUES } from '../../policies/allowed-prompts.js';

/** RFC 8628 device authorization grant (seed 002 "Device authorization"). */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT] as const;
export const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export const MTLS_AUTH_METHODS = ['tls_client_auth', 'self_signed_tls_client_auth'] as const;
export const AUTH_METHODS = [...SECRET_AUTH_METHODS, 'private_key_jwt', ...MTLS_AUTH_METHODS] as const;
/** Sender-constrained tokens (seed 001 "Enforce token binding"): RFC 9449 DPoP or RFC 8705 mTLS. */
export const TOKEN_BINDINGS = ['none', 'dpop', 'mtls'] as const;
export const SAME_SITE = ['lax', 'none'] as const;
export const ID_TOKEN_ENCRYPTION_ALGS = ['RSA-OAEP', 'RSA-OAEP-256'] as const;
export const ID_TOKEN_ENCRYPTION_ENCS = ['A128GCM', 'A256GCM', 'A128CBC-HS256', 'A256CBC-HS512'] as const;
export const PKCE_MODES = ['allow', 'enforce_with_secret', 'enforce_instead_of_secret'] as const;
export const ROLES = ['admin', 'viewer', 'user_manager', 'app_manager', 'consent_manager'] as const;

const DAY = 86_400;
/** Default absolute lifetime of a refresh-token chain (seed 001 "Max refresh time"). */
export const REFRESH_CHAIN_DEFAULT = 14 * DAY;

/** Longest refresh-token reuse interval: long enough for an RP's parallel workers, short enough to stay a race allowance. */
export const MAX_REFRESH_REUSE_INTERVAL = 60;

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

/** A nullable string checked by one of the key-material checks. */
function checked(label: string, problem: (value: string) => string | undefined) {
  return yup.string().max(65_536).nullable().defined()
    .test(label, function check(value) {
      const found = value ? problem(value) : undefined;
      return found ? this.createError({ message: `${label}: ${found}` }) : true;
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
    // absolute lifetime of a rotating refresh-token chain; null: 2 weeks, or refresh_token_ttl if longer
    max_refresh_token_ttl: yup.number().integer().min(1).max(365 * DAY).nullable().defined()
      .test('chain-covers-token', 'max_refresh_token_ttl: must be at least refresh_token_ttl',
        function check(value) { return value === null || value >= (this.parent as { refresh_token_ttl: number }).refresh_token_ttl; }),
    // seconds a just-rotated refresh token still yields a sibling instead of revoking its
    // family (lib/provider/refresh-grace.ts); 0: reuse always revokes
    refresh_token_reuse_interval: yup.number().integer().min(0).max(MAX_REFRESH_REUSE_INTERVAL).required(),
    session_ttl: yup.number().integer().min(1).max(365 * DAY).required(),
    third_party: yup.boolean().required(),
    // consent pages belong to the first party's web app: web rules whatever this client's type
    consent_uris: uriList('consent_uris', 'web').required(),
    consent_ttl: yup.number().integer().min(1).max(365 * DAY).required(),
    roles: yup.array(yup.string().oneOf(ROLES).required()).required(),
    // authentication material: a JWKS (private_key_jwt, self-signed mTLS, ID token encryption),
    // a CA chain and optional subject DN attributes (CA-signed mTLS)
    jwks: yup.mixed<Jwks>().nullable().defined().test('jwks', function check(value) {
      const found = value === null ? undefined : jwksProblem(value);
      return found ? this.createError({ message: `jwks: ${found}` }) : true;
    }),
    tls_client_auth_ca: checked('tls_client_auth_ca', pemChainProblem),
    tls_client_auth_subject_dn: checked('tls_client_auth_subject_dn', subjectDnProblem),
    token_binding: yup.string().oneOf(TOKEN_BINDINGS).required(),
    require_par: yup.boolean().required(),
    same_site: yup.string().oneOf(SAME_SITE).required(),
    id_token_encryption_alg: yup.string().oneOf(ID_TOKEN_ENCRYPTION_ALGS).nullable().defined(),
    id_token_encryption_enc: yup.string().oneOf(ID_TOKEN_ENCRYPTION_ENCS).required(),
    enforce_fapi2: yup.boolean().required(),
    // URIs of the application's resources this client may request (checked against them by the routes)
    resources: yup.array(yup.string().max(2048).required()).max(50).required(),
    id_token_claims: claimList(),
    userinfo_claims: claimList(),
    userinfo_includes_id_token_claims: yup.boolean().required(),
    allowed_prompts: yup.array(yup.string().oneOf(PROMPT_VALUES).required()).required(),
    // CIBA (seed 003 step 2): the first party's login page that backchannel auth links open
    ciba_authorization: yup.object({
      enabled: yup.boolean().required(),
      login_uri: yup.string().max(2048).nullable().default(null).test('login-uri', function check(uri) {
        const problem = uri ? redirectUriProblem(uri, 'web') : undefined;
        return problem ? this.createError({ message: `ciba_authorization.login_uri: ${problem}` }) : true;
      }),
    }).noUnknown().required(),
  }).noUnknown()
    .test('redirects-for-code', 'redirect_uris: at least one is required for authorization_code',
      (c) => !c.grant_types.includes('authorization_code') || c.redirect_uris.length > 0)
    .test('scopes-for-code', 'scopes: at least openid is required for authorization_code',
      (c) => !c.grant_types.includes('authorization_code') || c.scopes.includes('openid'))
    .test('scopes-for-device', `scopes: at least openid is required for ${DEVICE_CODE_GRANT}`,
      (c) => !c.grant_types.includes(DEVICE_CODE_GRANT) || c.scopes.includes('openid'))
    .test('refresh-needs-user-grant', `grant_types: refresh_token requires authorization_code or ${DEVICE_CODE_GRANT}`,
      (c) => !c.grant_types.includes('refresh_token') || c.grant_types.includes('authorization_code') || c.grant_types.includes(DEVICE_CODE_GRANT))
    .test('third-party-consent-uri', 'consent_uris: a third-party client needs at least one Consent URI',
      (c) => !c.third_party || c.consent_uris.length > 0)
    .test('third-party-no-roles', 'roles: a third-party client cannot hold management roles',
      (c) => !c.third_party || c.roles.length === 0)
    .test('private-key-jwt-jwks', 'jwks: private_key_jwt needs the client\'s public signing keys',
      (c) => c.token_endpoint_auth_method !== 'private_key_jwt' || (c.jwks !== null && hasSigningKey(c.jwks)))
    .test('self-signed-certificate', 'jwks: self_signed_tls_client_auth needs the certificate as x5c of a key',
      (c) => c.token_endpoint_auth_method !== 'self_signed_tls_client_auth' || (c.jwks !== null && hasCertificateKey(c.jwks)))
    .test('ca-chain', 'tls_client_auth_ca: tls_client_auth needs the PEM chain of the CA that issues the client certificate',
      (c) => c.token_endpoint_auth_method !== 'tls_client_auth' || Boolean(c.tls_client_auth_ca))
    .test('subject-dn-only-for-ca', 'tls_client_auth_subject_dn: only applies to tls_client_auth',
      (c) => !c.tls_client_auth_subject_dn || c.token_endpoint_auth_method === 'tls_client_auth')
    .test('public-auth-method', 'token_endpoint_auth_method: a public client (pkce enforce_instead_of_secret) authenticates with PKCE only',
      (c) => c.pkce !== 'enforce_instead_of_secret' || (SECRET_AUTH_METHODS as readonly string[]).includes(c.token_endpoint_auth_method))
    .test('same-site-none-https', 'same_site: none is only allowed when every redirect URI uses https',
      (c) => c.same_site !== 'none' || c.redirect_uris.every((uri) => uri.startsWith('https://')))
    .test('encryption-key', 'jwks: ID token encryption needs an RSA public key for id_token_encryption_alg, not restricted to signatures',
      (c) => !c.id_token_encryption_alg || (c.jwks !== null && hasRsaEncryptionKey(c.jwks, c.id_token_encryption_alg)))
    .test('fapi2', function fapi2(c) {
      const problem = fapi2Problem(c);
      return problem ? this.createError({ message: `enforce_fapi2: ${problem}` }) : true;
    })
    .test('public-no-client-credentials', 'grant_types: client_credentials needs a client secret (pkce enforce_instead_of_secret makes the client public)',
      (c) => c.pkce !== 'enforce_instead_of_secret' || !c.grant_types.includes('client_credentials'))
    .test('ciba', function ciba(c) {
      const problem = cibaProblem(c);
      return problem ? this.createError({ message: `ciba_authorization: ${problem}` }) : true;
    })
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
    max_refresh_token_ttl: null,
    access_token_ttl: 3600,
    refresh_token_ttl: 14 * DAY,
    // strict by default (RFC 9700 reuse detection); opted into per client whose workers race
    refresh_token_reuse_interval: 0,
    session_ttl: 14 * DAY,
    third_party: false,
    consent_uris: [],
    consent_ttl: 30 * DAY,
    roles: [],
    jwks: null,
    tls_client_auth_ca: null,
    tls_client_auth_subject_dn: null,
    token_binding: 'none',
    require_par: false,
    same_site: 'lax',
    id_token_encryption_alg: null,
    id_token_encryption_enc: 'A256GCM',
    enforce_fapi2: false,
    resources: [],
    id_token_claims: [],
    userinfo_claims: [],
    userinfo_includes_id_token_claims: false,
    allowed_prompts: [...PROMPT_VALUES],
    ciba_authorization: { enabled: false, login_uri: null },
  };
}

/** CIBA needs a login page, a client that can keep a secret, no third party (it would bypass consent) and openid. */
function cibaProblem(c: Pick<ClientSettings, 'ciba_authorization' | 'pkce' | 'third_party' | 'scopes'>): string | undefined {
  if (!c.ciba_authorization.enabled) return undefined;
  if (!c.ciba_authorization.login_uri) return 'login_uri is required when enabled';
  if (c.pkce === 'enforce_instead_of_secret') return 'only confidential clients may initiate backchannel authentication';
  if (c.third_party) return 'only first-party clients may initiate backchannel authentication';
  if (!c.scopes.includes('openid')) return 'the client needs the openid scope';
  return undefined;
}

/**
 * FAPI 2.0 Security Profile requirements that are client settings (oidc-provider's 2.0
 * profile enforces the protocol-level rest). Undefined when compliant or not enforced.
 */
function fapi2Problem(c: Pick<ClientSettings, 'enforce_fapi2' | 'require_par' | 'token_binding' | 'token_endpoint_auth_method' | 'pkce' | 'grant_types'>): string | undefined {
  if (!c.enforce_fapi2) return undefined;
  if (!c.require_par) return 'FAPI 2.0 requires pushed authorization requests (require_par: true)';
  if (c.token_binding === 'none') return 'FAPI 2.0 requires sender-constrained tokens (token_binding: dpop or mtls)';
  if (!['private_key_jwt', ...MTLS_AUTH_METHODS].includes(c.token_endpoint_auth_method)) {
    return 'FAPI 2.0 requires private_key_jwt, tls_client_auth or self_signed_tls_client_auth';
  }
  if (c.pkce !== 'enforce_with_secret') return 'FAPI 2.0 requires PKCE on every authorization request (pkce: enforce_with_secret)';
  if (c.grant_types.includes(DEVICE_CODE_GRANT)) return `FAPI 2.0 covers the authorization code flow, not ${DEVICE_CODE_GRANT}`;
  return undefined;
}
