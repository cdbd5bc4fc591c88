import { errors, type Configuration, type KoaContextWithOIDC, type Adapter } from 'oidc-provider';
import type { JWK } from 'jose';
import type { Config } from '../config.js';
import { interactionPolicyFor } from '../../policies/index.js';
import { isThirdParty } from '../../policies/first-party.js';
import { loadExistingGrantWith } from '../../policies/load-grant.js';
import type { ConsentService } from '../consents/service.js';
import { renderPage } from '../../views/layout.js';
import { errorView, loggedOutView, logoutView } from '../../views/messages.js';
import { EXTRA_CLIENT_METADATA, type ClientExtras } from './client-extras.js';
import { claimsConfiguration } from './account.js';
import { claimsParameter } from './claims-parameter.js';
import { carryOrgId } from './org-id.js';
import { allowedPromptsOnly } from '../../policies/allowed-prompts.js';
import { epochSeconds } from '../time.js';
import { pathPrefix } from '../http/prefix.js';
import { mtlsHooks } from './mtls.js';
import { resourceIndicators, resourceRefreshTokenTtl } from '../resources/indicators.js';
import { DEVICE_CODE_TTL, DEVICE_ROUTES, type DeviceFlow } from '../device/index.js';
import { sessionLifetime } from '../sessions/lifetime.js';
import { backchannelRequestTtl } from '../ciba/hooks.js';

export interface ProviderDeps {
  config: Config;
  adapter: (model: string) => Adapter;
  findAccount: Configuration['findAccount'];
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  consents: ConsentService;
  deviceFlow: DeviceFlow['feature'];
  /** features.ciba, built by lib/ciba/hooks.ts (it needs users and delivery) */
  ciba: NonNullable<Configuration['features']>['ciba'];
}

function sendPage(ctx: KoaContextWithOIDC, title: string, body: ReturnType<typeof errorView>): void {
  const page = renderPage({ title, body });
  ctx.set(page.headers);
  ctx.type = 'html';
  ctx.body = page.html;
}

const extras = (client: unknown) => client as ClientExtras | undefined;

/** The algorithms the IdP offers (also the benchmark baseline's, so that both do the same work). */
export const ENABLED_JWA: Configuration['enabledJWA'] = {
  idTokenSigningAlgValues: ['RS256', 'ES256'],
  userinfoSigningAlgValues: ['RS256', 'ES256'],
  introspectionSigningAlgValues: ['RS256', 'ES256'],
  authorizationSigningAlgValues: ['RS256', 'ES256'],
  requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
  clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
  // asymmetric only: client secrets are kept as digests, so no symmetric key exists to use
  idTokenEncryptionAlgValues: ['RSA-OAEP', 'RSA-OAEP-256'],
  idTokenEncryptionEncValues: ['A128GCM', 'A256GCM', 'A128CBC-HS256', 'A256CBC-HS512'],
  // the IdP has signing keys only, so it offers no encrypted request objects
  requestObjectEncryptionAlgValues: [],
  userinfoEncryptionAlgValues: ['RSA-OAEP', 'RSA-OAEP-256'],
  introspectionEncryptionAlgValues: ['RSA-OAEP', 'RSA-OAEP-256'],
  authorizationEncryptionAlgValues: ['RSA-OAEP', 'RSA-OAEP-256'],
};

/**
 * oidc-provider configuration: every protocol decision of the IdP in one place. What is
 * not set here is the library's (certified) default.
 */
export function providerConfiguration({ config, adapter, findAccount, jwks, cookieKeys, consents, deviceFlow, ciba }: ProviderDeps): Configuration {
  const secureCookies = config.publicUrl.startsWith('https://');
  const cookie = { httpOnly: true, sameSite: 'lax' as const, secure: secureCookies, signed: true };
  const { ttl } = config;

  return {
    adapter: adapter as unknown as Configuration['adapter'],
    findAccount,
    jwks: jwks as Configuration['jwks'],
    cookies: { keys: cookieKeys, long: cookie, short: cookie },
    scopes: config.scopes,
    claims: claimsConfiguration(config.scopes),
    extraParams: { org_id: carryOrgId, prompt: allowedPromptsOnly },
    acrValues: config.acrValues,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'],
    extraClientMetadata: { properties: [...EXTRA_CLIENT_METADATA] },
    // PKCE (S256, the only method v9 supports) is mandatory for public clients and for
    // clients whose PKCE mode enforces it (seed 001)
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' || extras(client)?.pkce_mode !== 'allow' },
    routes: {
      authorization: '/auth',
      token: '/token',
      pushed_authorization_request: '/request',
      revocation: '/token/revocation',
      introspection: '/token/introspection',
      end_session: '/session/end',
      jwks: '/jwks',
      userinfo: '/me',
      ...DEVICE_ROUTES,
      backchannel_authentication: '/backchannel',
    },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: claimsParameter(),
      clientCredentials: { enabled: true },
      // resource servers are the tenant's first-party apps: any confidential first-party
      // client may introspect; third-party and public clients only their own tokens. Tokens of
      // a deleted client stay stored until they expire: they are inactive (as at userinfo)
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId
          || (client.clientAuthMethod !== 'none' && !isThirdParty(client) && await ctx.oidc.provider.Client.find(token.clientId!) !== undefined),
      },
      // a client revokes only its own tokens (RFC 7009 2.1): another client's token is refused
      // (invalid_request), or for a public client ignored, as the library's default does
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      pushedAuthorizationRequests: { enabled: true },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        certificateBoundAccessTokens: true,
        ...mtlsHooks(config.mtlsCertificateHeader),
      },
      // ID tokens encrypted to the client's RSA key (seed 001 "ID token encryption")
      encryption: { enabled: true },
      // clients with enforce_fapi2 run under the FAPI 2.0 Security Profile
      fapi: { enabled: true, profile: (_ctx, client) => (extras(client)?.enforce_fapi2 ? '2.0' : undefined) },
      resourceIndicators: resourceIndicators(),
      // RFC 8628 for clients with the device_code grant (lib/device/)
      deviceFlow,
      ciba,
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => sendPage(ctx, 'Sign out', logoutView(form, ctx.oidc.client?.clientName)),
        postLogoutSuccessSource: async (ctx) => sendPage(ctx, 'Signed out', loggedOutView()),
      },
    },
    interactions: {
      policy: interactionPolicyFor(),
      url: (ctx, interaction) => `${pathPrefix(ctx.originalUrl)}/interaction/${interaction.uid}`,
    },
    loadExistingGrant: loadExistingGrantWith(consents),
    // FAPI 2.0 asks not to rotate refresh tokens (its clients' tokens are sender-constrained)
    rotateRefreshToken: (ctx) => !extras(ctx.oidc.client)?.enforce_fapi2,
    ttl: {
      // a token for a resource lives as long as the resource says, else as long as the client says
      AccessToken: (_ctx, token, client) => token.resourceServer?.accessTokenTTL ?? extras(client)?.access_token_ttl ?? ttl.accessToken,
      ClientCredentials: (_ctx, token, client) => token.resourceServer?.accessTokenTTL ?? extras(client)?.access_token_ttl ?? ttl.clientCredentials,
      // the resource's, else the client's lifetime; rotation copies `iiat` (the first token's
      // iat): no token of the chain outlives iiat + max_refresh_token_ttl (seed 001 "Max refresh time")
      RefreshToken: (_ctx, token, client) => {
        const own = resourceRefreshTokenTtl(token, client) ?? extras(client)?.refresh_token_ttl ?? ttl.refreshToken;
        const chain = extras(client)?.max_refresh_token_ttl;
        if (chain === undefined) return own;
        return Math.max(1, Math.min(own, (token.iiat ?? epochSeconds()) + chain - epochSeconds()));
      },
      AuthorizationCode: ttl.authorizationCode,
      DeviceCode: DEVICE_CODE_TTL,
      IdToken: ttl.idToken,
      Interaction: ttl.interaction,
      // counted from the last authentication, so silent sign-ins do not extend a session;
      // one nobody signed in to lives as long as an interaction
      Session: sessionLifetime(ttl.session, ttl.interaction),
      Grant: ttl.grant,
      BackchannelAuthenticationRequest: backchannelRequestTtl,
    },
    // errors that cannot go back to the client (an unknown client, a redirect_uri not registered):
    // a page for a browser, the seed's JSON (`{ message, error_code }`, plus the OAuth `error`) for
    // a caller that asks for JSON and is not navigating
    renderError: async (ctx, out) => {
      if (ctx.get('sec-fetch-mode') !== 'navigate' && ctx.accepts('html', 'json') === 'json') {
        ctx.set('cache-control', 'no-store');
        ctx.body = { message: out.error_description ?? out.error, error_code: ctx.status, error: out.error };
        return;
      }
      sendPage(ctx, 'Sign-in error', errorView('Something went wrong', out.error_description ?? out.error));
    },
    enabledJWA: ENABLED_JWA,
    discovery: { ui_locales_supported: config.uiLocales, claim_types_supported: ['normal'] },
  };
}
