import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { answer, authorize, createThirdParty, introspect, redeem, THIRD_PARTY_REDIRECT } from '../support/consent.js';
import { refusalOf } from '../support/refusals.js';

const insecure = { execute: [oidc.allowInsecureRequests] };

/** Seed 001 "Resources": per-application APIs a client requests with `resource` (RFC 8707). */
describe('resources', () => {
  let t: TestIdp;
  let fx: Fixture;
  let rp: oidc.Configuration;
  /** listed by the fixture client: 5-minute access tokens, 2-hour refresh tokens, two scopes */
  let payments: Record<string, any>;
  /** listed by the fixture client too, no scopes */
  let ledger: Record<string, any>;
  /** in the same application, not listed by the client */
  let reports: Record<string, any>;

  const resourcesOf = (appId: string) => `/v1/applications/${appId}/resources`;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
    payments = (await api(t, 'POST', resourcesOf(fx.appId), {
      uri: 'https://api.bank.example/payments', name: 'Payments', access_token_ttl: 300, refresh_token_ttl: 7200, scopes: ['payments:read', 'payments:write'],
    })).body;
    ledger = (await api(t, 'POST', resourcesOf(fx.appId), { uri: 'https://api.bank.example/ledger', access_token_ttl: 600 })).body;
    reports = (await api(t, 'POST', resourcesOf(fx.appId), { uri: 'https://api.bank.example/reports', access_token_ttl: 600 })).body;
    const updated = await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${fx.client.client_id}`, { resources: [payments.uri, ledger.uri] });
    expect(updated).toMatchObject({ status: 200, body: { resources: [payments.uri, ledger.uri] } });
    rp = await oidc.discovery(new URL(t.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
  });
  afterAll(() => t.close());

  describe('management API', () => {
    it('creates, reads, lists, merges and deletes a resource', async () => {
      const created = await api(t, 'POST', resourcesOf(fx.appId), { uri: 'https://api.bank.example/cards', access_token_ttl: 900 });
      expect(created).toMatchObject({
        status: 201,
        body: {
          resource_id: expect.any(String), app_id: fx.appId, uri: 'https://api.bank.example/cards',
          access_token_ttl: 900, refresh_token_ttl: 14 * 86_400, scopes: [], created_at: expect.any(Number), updated_at: expect.any(Number),
        },
      });
      const path = `${resourcesOf(fx.appId)}/${created.body.resource_id}`;
      expect((await api(t, 'GET', path)).body).toEqual(created.body);
      expect((await api(t, 'GET', resourcesOf(fx.appId))).body.resources.map((r: { uri: string }) => r.uri))
        .toEqual([payments.uri, ledger.uri, reports.uri, 'https://api.bank.example/cards']);
      expect((await api(t, 'PUT', path, { name: 'Cards', scopes: ['cards'] })).body)
        .toMatchObject({ name: 'Cards', scopes: ['cards'], access_token_ttl: 900, uri: 'https://api.bank.example/cards' });
      expect((await api(t, 'DELETE', path)).status).toBe(204);
      expect(await api(t, 'GET', path)).toMatchObject({ status: 404, body: { message: 'Resource not found', error_code: 404 } });
      // the URI is free again
      const again = await api(t, 'POST', resourcesOf(fx.appId), { uri: 'https://api.bank.example/cards', access_token_ttl: 900 });
      expect(again.status).toBe(201);
      await api(t, 'DELETE', `${resourcesOf(fx.appId)}/${again.body.resource_id}`);
    });

    it('answers bad resources with 400 naming the field', async () => {
      const bad = async (body: Record<string, unknown>) => (await api(t, 'POST', resourcesOf(fx.appId), { access_token_ttl: 300, ...body })).body;
      expect(await bad({ uri: 'http://api.bank.example/x' })).toEqual({ message: 'uri: must use https unless the host is localhost', error_code: 400 });
      expect(await bad({ uri: 'https://api.bank.example/x#frag' })).toEqual({ message: 'uri: must not contain a fragment', error_code: 400 });
      expect(await bad({ uri: '/relative' })).toEqual({ message: 'uri: must be an absolute URI', error_code: 400 });
      expect(await bad({ uri: 'https://api.bank.example/x', access_token_ttl: 59 })).toMatchObject({ message: 'access_token_ttl must be greater than or equal to 60' });
      expect(await bad({ uri: 'https://api.bank.example/x', refresh_token_ttl: 366 * 86_400 })).toMatchObject({ message: expect.stringMatching(/^refresh_token_ttl must be less than or equal to/) });
      expect(await bad({ uri: 'https://api.bank.example/x', scopes: ['two words'] })).toMatchObject({ message: 'scopes[0]: must be a scope token (no spaces, quotes or backslashes)' });
      expect(await bad({ uri: 'https://api.bank.example/x', scopes: ['ok', 'openid'] })).toMatchObject({ message: 'scopes[1]: is an OpenID Connect scope of the tenant, not a resource scope' });
      expect(await bad({ uri: 'https://api.bank.example/x', audience: 'x' })).toMatchObject({ message: 'unknown field: audience' });
      expect(await bad({})).toMatchObject({ message: 'uri is a required field' });
      // loopback http is fine for local development
      const local = await api(t, 'POST', resourcesOf(fx.appId), { uri: 'http://localhost:9000/api', access_token_ttl: 300 });
      expect(local.status).toBe(201);
      await api(t, 'DELETE', `${resourcesOf(fx.appId)}/${local.body.resource_id}`);
    });

    it('keeps URIs unique in the tenant (409), across applications too', async () => {
      const other = (await api(t, 'POST', '/v1/applications', { name: 'Other' })).body.app_id;
      expect(await api(t, 'POST', resourcesOf(fx.appId), { uri: payments.uri, access_token_ttl: 300 }))
        .toMatchObject({ status: 409, body: { message: 'uri is already used by another resource', error_code: 409 } });
      expect((await api(t, 'POST', resourcesOf(other), { uri: payments.uri, access_token_ttl: 300 })).status).toBe(409);
      expect((await api(t, 'PUT', `${resourcesOf(fx.appId)}/${reports.resource_id}`, { uri: payments.uri })).status).toBe(409);
      // another application does not see this one's resources
      expect((await api(t, 'GET', `${resourcesOf(other)}/${payments.resource_id}`)).status).toBe(404);
      expect((await api(t, 'POST', resourcesOf('no-such-app'), { uri: 'https://x.example', access_token_ttl: 300 })).status).toBe(404);
    });

    it('accepts in client settings only resources of the same application (400 naming the entry)', async () => {
      const other = (await api(t, 'POST', '/v1/applications', { name: 'Other' })).body.app_id;
      const foreign = (await api(t, 'POST', resourcesOf(other), { uri: 'https://other.example/api', access_token_ttl: 300 })).body;
      const clientPath = `/v1/applications/${fx.appId}/clients/${fx.client.client_id}`;
      expect(await api(t, 'PUT', clientPath, { resources: [payments.uri, 'https://unknown.example/api'] }))
        .toMatchObject({ status: 400, body: { message: 'resources[1]: no resource with this URI in this application', error_code: 400 } });
      expect(await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'x', grant_types: ['client_credentials'], scopes: [], resources: [foreign.uri] }))
        .toMatchObject({ status: 400, body: { message: 'resources[0]: no resource with this URI in this application' } });
      expect((await api(t, 'GET', clientPath)).body.resources).toEqual([payments.uri, ledger.uri]);
    });

    it('refuses to delete or move a resource a client lists (409), and deletes resources with their application', async () => {
      const paymentsPath = `${resourcesOf(fx.appId)}/${payments.resource_id}`;
      expect(await api(t, 'DELETE', paymentsPath)).toMatchObject({ status: 409, body: { message: expect.stringContaining(fx.client.client_id) } });
      expect((await api(t, 'PUT', paymentsPath, { uri: 'https://api.bank.example/payments/v2' })).status).toBe(409);

      const app = (await api(t, 'POST', '/v1/applications', { name: 'Short-lived' })).body.app_id;
      const resource = (await api(t, 'POST', resourcesOf(app), { uri: 'https://short.example/api', access_token_ttl: 300 })).body;
      await api(t, 'POST', `/v1/applications/${app}/clients`, { name: 'c', grant_types: ['client_credentials'], scopes: [], resources: [resource.uri] });
      expect((await api(t, 'DELETE', `/v1/applications/${app}`)).status).toBe(204);
      const newApp = (await api(t, 'POST', '/v1/applications', { name: 'Successor' })).body.app_id;
      expect((await api(t, 'POST', resourcesOf(newApp), { uri: resource.uri, access_token_ttl: 300 })).status).toBe(201);
    });
  });

  describe('protocol', () => {
    async function authorizationUrl(params: URLSearchParams) {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      params.set('redirect_uri', fx.redirectUri);
      params.set('state', state);
      params.set('code_challenge', await oidc.calculatePKCECodeChallenge(verifier));
      params.set('code_challenge_method', 'S256');
      return { url: oidc.buildAuthorizationUrl(rp, params), verifier, state };
    }

    async function signIn(params: Record<string, string>) {
      const { url, verifier, state } = await authorizationUrl(new URLSearchParams(params));
      const callback = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
      // openid-client sends no `resource` at the token endpoint: the granted one is used
      return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
    }

    const lifetime = (info: { exp?: number; iat?: number }) => info.exp! - info.iat!;

    it('issues a token for the requested resource: audience, scopes and lifetime of the resource', async () => {
      const tokens = await signIn({ scope: 'openid payments:read', resource: payments.uri });
      expect(tokens.expires_in).toBe(300);
      const info = await oidc.tokenIntrospection(rp, tokens.access_token);
      expect(info).toMatchObject({ active: true, aud: payments.uri, scope: 'payments:read', sub: fx.user.user_id });
      expect(lifetime(info)).toBe(300);
      // a token for an API is not a token for userinfo
      expect(await refusalOf(oidc.fetchUserInfo(rp, tokens.access_token, fx.user.user_id))).toEqual({ status: 403, error: 'insufficient_scope', error_description: 'access token missing openid scope', code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE', message: 'server responded with a challenge in the WWW-Authenticate HTTP Header' });
      expect(tokens.claims()!.aud).toBe(fx.client.client_id);
    });

    it('gives refresh tokens the lifetime of the resource, also after a change of the resource', async () => {
      const tokens = await signIn({ scope: 'openid offline_access payments:write', prompt: 'consent', resource: payments.uri });
      expect(lifetime(await oidc.tokenIntrospection(rp, tokens.refresh_token!))).toBe(7200);

      const path = `${resourcesOf(fx.appId)}/${payments.resource_id}`;
      await api(t, 'PUT', path, { refresh_token_ttl: 3600, access_token_ttl: 240 });
      try {
        const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
        expect(refreshed.expires_in).toBe(240);
        expect(lifetime(await oidc.tokenIntrospection(rp, refreshed.refresh_token!))).toBe(3600);
        const info = await oidc.tokenIntrospection(rp, refreshed.access_token);
        expect(info).toMatchObject({ aud: payments.uri, scope: 'payments:write' });
        expect(lifetime(info)).toBe(240);
      } finally {
        await api(t, 'PUT', path, { refresh_token_ttl: 7200, access_token_ttl: 300 });
      }
    });

    it('refuses two resources in one request with invalid_target, even two the client lists', async () => {
      const params = new URLSearchParams({ scope: 'openid' });
      params.append('resource', payments.uri);
      params.append('resource', ledger.uri);
      const { url } = await authorizationUrl(params);
      const redirected = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
      expect(redirected.origin + redirected.pathname).toBe(fx.redirectUri);
      expect(redirected.searchParams.get('error')).toBe('invalid_target');

      const cc = new URLSearchParams();
      cc.append('resource', payments.uri);
      cc.append('resource', payments.uri);
      await expect(oidc.clientCredentialsGrant(rp, cc)).rejects.toMatchObject({ error: 'invalid_target' });
    });

    it('refuses a resource the client does not list with invalid_target', async () => {
      const { url } = await authorizationUrl(new URLSearchParams({ scope: 'openid', resource: reports.uri }));
      const redirected = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
      expect(redirected.searchParams.get('error')).toBe('invalid_target');
      await expect(oidc.clientCredentialsGrant(rp, { resource: reports.uri })).rejects.toMatchObject({ error: 'invalid_target' });
      await expect(oidc.clientCredentialsGrant(rp, { resource: 'https://unknown.example/api' })).rejects.toMatchObject({ error: 'invalid_target' });
    });

    it('issues client_credentials tokens for a resource', async () => {
      const tokens = await oidc.clientCredentialsGrant(rp, { resource: payments.uri, scope: 'payments:read openid' });
      expect(tokens).toMatchObject({ expires_in: 300, scope: 'payments:read' });
      const info = await oidc.tokenIntrospection(rp, tokens.access_token);
      expect(info).toMatchObject({ active: true, aud: payments.uri, scope: 'payments:read', client_id: fx.client.client_id });
      expect(lifetime(info)).toBe(300);
      // without a resource: the client's own lifetime and no audience
      const plain = await oidc.clientCredentialsGrant(rp, {});
      expect(plain.expires_in).toBe(3600);
      expect((await oidc.tokenIntrospection(rp, plain.access_token)).aud).toBeUndefined();
    });

    it('keeps resource tokens away from the IdP\'s own APIs, whatever the client\'s roles', async () => {
      const admin = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
        name: 'admin with a resource', grant_types: ['client_credentials'], scopes: [], roles: ['admin'], resources: [payments.uri],
      });
      const adminRp = await oidc.discovery(new URL(t.issuer), admin.body.client_id, admin.body.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
      const forPayments = await oidc.clientCredentialsGrant(adminRp, { resource: payments.uri });
      expect((await api(t, 'GET', '/v1/applications', undefined, forPayments.access_token)).status).toBe(401);
      const forUs = await oidc.clientCredentialsGrant(adminRp, {});
      expect((await api(t, 'GET', '/v1/applications', undefined, forUs.access_token)).status).toBe(200);
    });

    it('grants a third party the resource scopes together with the consented scopes (no second consent round)', async () => {
      const tp = await createThirdParty(t, fx, { scopes: ['openid'], resources: [payments.uri] });
      const browser = new Browser();
      const started = await authorize(t, fx, tp, browser, { scope: 'openid payments:read', resource: payments.uri });
      const redirected = await answer(t, browser, started.url, true);
      expect(redirected.origin + redirected.pathname).toBe(THIRD_PARTY_REDIRECT);
      const tokens = await redeem(tp, started, redirected);
      expect(await introspect(t, fx, tokens.access_token)).toMatchObject({
        active: true, aud: payments.uri, scope: 'payments:read', client_id: tp.client_id, sub: fx.user.user_id,
      });
      expect(tokens.expires_in).toBe(300);
    });
  });
});
