import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { insecure } from '../support/consent.js';

/** Seed 001 "Supported prompt values" and "Token timeout configuration", driven by openid-client. */
describe('client prompt values and token timeouts', () => {
  let t: TestIdp;
  let fx: Fixture;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  async function client(settings: Record<string, unknown>) {
    const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Timeouts', redirect_uris: [fx.redirectUri], ...settings });
    expect(created.status).toBe(201);
    return oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
  }

  const post = (body: Record<string, unknown>) => api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Bad', redirect_uris: [fx.redirectUri], ...body });

  async function authUrl(rp: oidc.Configuration, params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid', state: 'st',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    });
    return { url, verifier };
  }

  /** Where the browser lands at the redirect URI (code or error), signing in if asked to. */
  async function authorize(rp: oidc.Configuration, browser: Browser, params: Record<string, string> = {}) {
    const { url, verifier } = await authUrl(rp, params);
    const landed = await browser.login(url.href, t.url, fx.user.email, fx.user.password);
    return { landed, verifier };
  }

  async function signIn(rp: oidc.Configuration, params: Record<string, string> = {}, browser = new Browser()) {
    const { landed, verifier } = await authorize(rp, browser, params);
    return oidc.authorizationCodeGrant(rp, landed, { pkceCodeVerifier: verifier, expectedState: 'st' });
  }

  /** The redirect of an authorization request that is refused before any page. */
  async function refused(rp: oidc.Configuration, params: Record<string, string>) {
    const { url } = await authUrl(rp, params);
    const location = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    expect(location.origin + location.pathname).toBe(fx.redirectUri);
    return Object.fromEntries(location.searchParams);
  }

  describe('allowed_prompts', () => {
    it('defaults to login, consent and none, and refuses other values', async () => {
      const created = await post({});
      expect(created.body.allowed_prompts).toEqual(['login', 'consent', 'none']);
      expect(await post({ allowed_prompts: ['login', 'select_account'] })).toMatchObject({
        status: 400, body: { message: expect.stringMatching(/^allowed_prompts\[1\] must be one of the following values: login, consent, none/) },
      });
    });

    it('refuses an authorization request carrying a prompt value the client does not allow, with invalid_request at the redirect URI', async () => {
      const rp = await client({ allowed_prompts: ['none'] });
      for (const prompt of ['login', 'consent', 'login consent']) {
        expect(await refused(rp, { prompt })).toMatchObject({
          error: 'invalid_request', error_description: expect.stringMatching(/^prompt .*not allowed for this client/), state: 'st',
        });
      }
      // max_age=0 is oidc-provider's prompt=login
      expect(await refused(rp, { max_age: '0' })).toMatchObject({ error: 'invalid_request', error_description: 'prompt login is not allowed for this client' });
      // an allowed value goes through: prompt=none without a session is the ordinary login_required
      expect(await refused(rp, { prompt: 'none' })).toMatchObject({ error: 'login_required' });
      // no prompt at all is always fine
      expect((await signIn(rp)).claims()!.sub).toBe(fx.user.user_id);
    });

    it('refuses it at the PAR endpoint too', async () => {
      const rp = await client({ allowed_prompts: ['login', 'none'] });
      await expect(oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: fx.redirectUri, scope: 'openid', prompt: 'consent' }))
        .rejects.toMatchObject({ error: 'invalid_request', error_description: 'prompt consent is not allowed for this client' });
      const allowed = await oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: fx.redirectUri, scope: 'openid', prompt: 'login' });
      expect(allowed.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    });

    it('lets a client with every value use each of them', async () => {
      const rp = await client({});
      const browser = new Browser();
      const tokens = await signIn(rp, { prompt: 'login consent', scope: 'openid offline_access' }, browser);
      expect(tokens.refresh_token).toBeDefined();
      expect((await authorize(rp, browser, { prompt: 'none' })).landed.searchParams.get('code')).toBeTruthy();
    });
  });

  describe('token timeouts', () => {
    it('issues access tokens for the client\'s access_token_ttl', async () => {
      const rp = await client({ access_token_ttl: 120, grant_types: ['authorization_code', 'refresh_token'] });
      const tokens = await signIn(rp, { scope: 'openid offline_access', prompt: 'consent' });
      expect(tokens.expires_in).toBe(120);
      const introspected = await oidc.tokenIntrospection(rp, tokens.access_token);
      expect(introspected.exp! - introspected.iat!).toBe(120);
      expect((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).expires_in).toBe(120);
    });

    it('applies a changed client to the very next token request (no stale Client instance)', async () => {
      const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
        name: 'Machine', grant_types: ['client_credentials'], scopes: [], access_token_ttl: 300,
      });
      const path = `/v1/applications/${fx.appId}/clients/${created.body.client_id}`;
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      expect((await oidc.clientCredentialsGrant(rp)).expires_in).toBe(300);
      expect((await api(t, 'PUT', path, { access_token_ttl: 90 })).status).toBe(200);
      expect((await oidc.clientCredentialsGrant(rp)).expires_in).toBe(90);
      expect((await api(t, 'PUT', path, { grant_types: ['authorization_code'], redirect_uris: [fx.redirectUri], scopes: ['openid'] })).status).toBe(200);
      await expect(oidc.clientCredentialsGrant(rp)).rejects.toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
    });

    it('validates max_refresh_token_ttl: unset means 2 weeks (or refresh_token_ttl if longer), never below refresh_token_ttl', async () => {
      const created = await post({});
      expect(created.body).toMatchObject({ refresh_token_ttl: 1209600, max_refresh_token_ttl: null });
      // unset, it follows a later, longer refresh_token_ttl instead of blocking it
      const raised = await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${created.body.client_id}`, { refresh_token_ttl: 30 * 86400 });
      expect(raised).toMatchObject({ status: 200, body: { refresh_token_ttl: 30 * 86400, max_refresh_token_ttl: null } });
      expect(await post({ refresh_token_ttl: 600, max_refresh_token_ttl: 300 })).toMatchObject({
        status: 400, body: { message: 'max_refresh_token_ttl: must be at least refresh_token_ttl' },
      });
      expect((await post({ max_refresh_token_ttl: 366 * 86400 })).status).toBe(400);
    });

    it('caps every rotated refresh token at the first one\'s issue time + max_refresh_token_ttl', async () => {
      const rp = await client({ refresh_token_ttl: 8, max_refresh_token_ttl: 12 });
      const tokens = await signIn(rp, { scope: 'openid offline_access', prompt: 'consent' });
      const first = await oidc.tokenIntrospection(rp, tokens.refresh_token!);
      expect(first.exp! - first.iat!).toBe(8);
      // the chain starts when the first token is created, within the second of its iat
      const chainEnd = first.iat! + 12;

      // margins wide enough for a loaded CI machine
      await sleep(5000);
      const second = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      const rotated = await oidc.tokenIntrospection(rp, second.refresh_token!);
      expect(rotated.active).toBe(true);
      // refresh_token_ttl alone would give iat + 8, past the chain's end
      expect(rotated.exp).toBeLessThan(rotated.iat! + 8);
      expect(rotated.exp).toBeLessThanOrEqual(chainEnd);
      expect(rotated.exp).toBeGreaterThanOrEqual(chainEnd - 1);

      await sleep(Math.max(0, (chainEnd + 1) * 1000 - Date.now()) + 100);
      await expect(oidc.refreshTokenGrant(rp, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    });
  });

  describe('session_ttl', () => {
    it('stops silent sign-in for a client whose session_ttl has passed, while other clients keep SSO', async () => {
      const short = await client({ session_ttl: 2 });
      const regular = await client({});
      const browser = new Browser();
      await signIn(regular, {}, browser);
      expect((await authorize(short, browser, { prompt: 'none' })).landed.searchParams.get('code')).toBeTruthy();

      await sleep(3000);
      const silent = (await authorize(short, browser, { prompt: 'none' })).landed;
      expect(Object.fromEntries(silent.searchParams)).toMatchObject({ error: 'login_required', state: 'st' });
      expect((await authorize(regular, browser, { prompt: 'none' })).landed.searchParams.get('code')).toBeTruthy();

      // without prompt=none the user is asked to sign in again, which renews the session for everyone
      const { url } = await authUrl(short);
      const page = await browser.follow(url.href, t.url);
      expect(await page.response.text()).toMatch(/name="password"/);
      expect((await signIn(short, {}, browser)).claims()!.sub).toBe(fx.user.user_id);
      expect((await authorize(short, browser, { prompt: 'none' })).landed.searchParams.get('code')).toBeTruthy();
    });

    it('accepts a session_ttl from 1 second to 1 year', async () => {
      expect((await post({ session_ttl: 0 })).status).toBe(400);
      expect((await post({ session_ttl: 366 * 86400 })).body.message).toMatch(/^session_ttl must be less than or equal to 31536000/);
    });
  });
});
