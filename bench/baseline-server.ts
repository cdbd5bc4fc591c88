import http from 'node:http';
import Koa from 'koa';
import mount from 'koa-mount';
import { koaBody } from 'koa-body';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { hashPassword, verifyPassword } from '../lib/users/passwords.js';
import { claimsConfiguration } from '../lib/provider/account.js';
import { ENABLED_JWA } from '../lib/provider/configuration.js';
import { DEFAULT_SCOPES } from '../lib/config.js';
import { BENCH_CLIENT, BENCH_REDIRECT_URI, BENCH_SCOPES, BENCH_USER } from './fixture.js';

/**
 * The baseline: bare oidc-provider with its own in-memory adapter and a static client,
 * configured like the IdP (the same features, algorithms, lifetimes and routes; opaque access
 * tokens, refresh rotation, code + PKCE, RS256/ES256 keys) but none of our layer: no store
 * port, client service, account service, policies or middleware. Its hosted login is minimal:
 * one account whose password is checked with the same scrypt cost as ours, and implicit
 * consent as for our first-party clients.
 * Run as a child process by bench/run.ts: PORT in the environment.
 */
const port = Number(process.env.PORT ?? 3000);
const issuer = `http://127.0.0.1:${port}/oidc`;
const DAY = 24 * 3600;

async function signingKey(alg: 'RS256' | 'ES256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(jwk) };
}

const passwordHash = await hashPassword(BENCH_USER.password);
const account = { sub: 'bench-user', email: BENCH_USER.email, email_verified: true, given_name: 'Bench', family_name: 'User' };

/** Implicit consent, as for our first-party clients: the session's grant, extended to what is asked. */
async function loadExistingGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session?.grantIdFor(oidc.client!.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  const scopes = [...oidc.requestParamOIDCScopes];
  if (existing && scopes.every((s) => existing.getOIDCScope().split(' ').includes(s))) return existing;
  const grant = existing ?? new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.account!.accountId });
  grant.addOIDCScope(scopes.join(' '));
  await grant.save();
  return grant;
}

/**
 * oidc-provider's in-memory adapter, on a store without its default bound of 1,000 entries:
 * under load that bound evicts live sessions and refresh tokens, which our stores never do.
 */
const storage = new LRU({ maxSize: Number.POSITIVE_INFINITY });

const cookie = { httpOnly: true, sameSite: 'lax' as const, secure: false, signed: true };
const configuration: Configuration = {
  adapter: class extends MemoryAdapter {
    constructor(model: string) {
      super(model, storage);
    }
  },
  clients: [{
    client_id: BENCH_CLIENT.clientId,
    client_secret: BENCH_CLIENT.clientSecret,
    redirect_uris: [BENCH_REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    scope: BENCH_SCOPES,
    token_endpoint_auth_method: 'client_secret_post',
  }],
  jwks: { keys: [await signingKey('RS256'), await signingKey('ES256')] } as Configuration['jwks'],
  cookies: { keys: ['baseline-cookie-key-0123456789abcdef'], long: cookie, short: cookie },
  // the IdP's default scopes and their claims, so discovery and claim filtering do the same work
  scopes: [...DEFAULT_SCOPES],
  claims: claimsConfiguration(DEFAULT_SCOPES),
  findAccount: async (_ctx, sub) => (sub === account.sub ? { accountId: sub, claims: async () => account } : undefined),
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'],
  acrValues: ['sfa', 'mfa'],
  routes: {
    authorization: '/auth', token: '/token', pushed_authorization_request: '/request', revocation: '/token/revocation',
    introspection: '/token/introspection', end_session: '/session/end', jwks: '/jwks', userinfo: '/me',
    device_authorization: '/device/auth', code_verification: '/device', backchannel_authentication: '/backchannel',
  },
  discovery: { ui_locales_supported: ['en'], claim_types_supported: ['normal'] },
  // the features our IdP enables, so that the ratio measures our layer rather than feature choices
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
    mTLS: {
      enabled: true, tlsClientAuth: true, selfSignedTlsClientAuth: true, certificateBoundAccessTokens: true,
      getCertificate: () => undefined, certificateAuthorized: () => false, certificateSubjectMatches: () => false,
    },
    encryption: { enabled: true },
    fapi: { enabled: true, profile: () => undefined },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: () => true,
      getResourceServerInfo: () => { throw new errors.InvalidTarget(); },
    },
    rpInitiatedLogout: { enabled: true },
    deviceFlow: { enabled: true, charset: 'base-20', mask: '****-****' },
    // poll mode with the hooks oidc-provider requires; no backchannel request is benchmarked
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      processLoginHint: async (_ctx, loginHint) => (loginHint === account.email ? account.sub : undefined),
      processLoginHintToken: () => { throw new errors.InvalidRequest('login_hint_token is not supported'); },
      verifyUserCode: () => undefined,
      validateBindingMessage: () => undefined,
      validateRequestContext: () => undefined,
      triggerAuthenticationDevice: async () => undefined,
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  loadExistingGrant,
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 3600, ClientCredentials: 3600, IdToken: 3600, RefreshToken: 14 * DAY,
    AuthorizationCode: 60, Interaction: 1800, Session: 14 * DAY, Grant: 14 * DAY,
    DeviceCode: 600, BackchannelAuthenticationRequest: 600,
  },
  enabledJWA: ENABLED_JWA,
};

const provider = new Provider(issuer, configuration);
provider.proxy = true;

const loginPage = (uid: string) => `<!doctype html><form method="post" action="/interaction/${uid}/login">
<input name="identifier"><input name="password" type="password"><button>Sign in</button></form>`;

const app = new Koa();
app.keys = ['baseline-cookie-key-0123456789abcdef'];
app.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(ctx.path);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET' && details.prompt.name === 'consent') {
    // first-party consent is implicit: extend the grant and go on
    const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.respond = false;
    return;
  }
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = loginPage(details.uid);
    return;
  }
  await koaBody({ urlencoded: true, json: false, multipart: false })(ctx, async () => {});
  const form = ctx.request.body as Record<string, string>;
  const ok = form.identifier === BENCH_USER.email && await verifyPassword(form.password ?? '', passwordHash);
  if (!ok) {
    ctx.status = 401;
    ctx.body = loginPage(details.uid);
    return;
  }
  await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  ctx.respond = false;
});
app.use(mount('/oidc', provider));

const server = http.createServer(app.callback()).listen(port, '127.0.0.1');
server.keepAliveTimeout = 65_000;
process.once('SIGTERM', () => process.exit(0));
