import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { createFixture, startIdp, type Fixture, type StoreKind, type TestIdp } from '../support/idp.js';
import { refusalOf } from '../support/refusals.js';

const insecure = { execute: [oidc.allowInsecureRequests] };

/** Standard RP behaviour, driven by openid-client v6 against a listening IdP, on both stores. */
describe.each<StoreKind>(['memory', 'redis'])('OIDC flows (%s store)', (kind) => {
  let t: TestIdp;
  let fx: Fixture;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    t = await startIdp({ store: kind });
    fx = await createFixture(t);
    rp = await oidc.discovery(new URL(t.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
  });
  afterAll(() => t.close());

  /** Authorization request → hosted login → code at the redirect URI → tokens. */
  async function signIn(params: Record<string, string> = {}, browser = new Browser(), usePar = false) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const request = {
      redirect_uri: fx.redirectUri, scope: 'openid email profile', state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    };
    const authUrl = usePar ? await oidc.buildAuthorizationUrlWithPAR(rp, request) : oidc.buildAuthorizationUrl(rp, request);
    const callback = await browser.login(authUrl.href, t.url, fx.user.email, fx.user.password);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return { tokens, browser, callback };
  }

  it('publishes discovery with the seed endpoint paths', () => {
    const meta = rp.serverMetadata();
    expect(meta.issuer).toBe(t.issuer);
    expect(meta.authorization_endpoint).toBe(`${t.issuer}/auth`);
    expect(meta.token_endpoint).toBe(`${t.issuer}/token`);
    expect(meta.pushed_authorization_request_endpoint).toBe(`${t.issuer}/request`);
    expect(meta.revocation_endpoint).toBe(`${t.issuer}/token/revocation`);
    expect(meta.introspection_endpoint).toBe(`${t.issuer}/token/introspection`);
    expect(meta.end_session_endpoint).toBe(`${t.issuer}/session/end`);
    expect(meta.jwks_uri).toBe(`${t.issuer}/jwks`);
    expect(meta.userinfo_endpoint).toBe(`${t.issuer}/me`);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256']));
    expect(meta.claims_parameter_supported).toBe(true);
  });

  it('signs in with authorization code + PKCE and returns verified tokens and userinfo', async () => {
    const { tokens } = await signIn();
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(fx.user.user_id);
    expect(claims.aud).toBe(fx.client.client_id);
    expect(claims.amr).toEqual(['pwd']);
    expect(typeof claims.auth_time).toBe('number');
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, fx.user.user_id);
    expect(userinfo).toMatchObject({ sub: fx.user.user_id, email: fx.user.email, email_verified: true, given_name: 'Ada', name: 'Ada Lovelace' });
  });

  it('honours the claims parameter and acr_values', async () => {
    const { tokens } = await signIn({ claims: JSON.stringify({ id_token: { email: null } }), acr_values: 'sfa' });
    expect(tokens.claims()).toMatchObject({ email: fx.user.email, acr: 'sfa' });
  });

  it('starts the flow with a pushed authorization request', async () => {
    const { tokens } = await signIn({}, new Browser(), true);
    expect(tokens.claims()!.sub).toBe(fx.user.user_id);
  });

  it('rejects a plain (non-S256) PKCE challenge', async () => {
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'plain',
    });
    const res = await fetch(url, { redirect: 'manual' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('issues rotating refresh tokens for offline_access with prompt=consent, and revokes the grant on reuse', async () => {
    const { tokens } = await signIn({ scope: 'openid offline_access', prompt: 'consent' });
    expect(tokens.refresh_token).toBeDefined();
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // reuse of a rotated token ends the whole grant
    await expect(oidc.refreshTokenGrant(rp, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, refreshed.access_token)).active).toBe(false);
  });

  it('does not issue a refresh token without prompt=consent', async () => {
    const { tokens } = await signIn({ scope: 'openid offline_access' });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('introspects and revokes tokens', async () => {
    const { tokens } = await signIn();
    const active = await oidc.tokenIntrospection(rp, tokens.access_token);
    expect(active).toMatchObject({ active: true, sub: fx.user.user_id, client_id: fx.client.client_id });
    await oidc.tokenRevocation(rp, tokens.access_token);
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
  });

  it('issues client_credentials tokens', async () => {
    const tokens = await oidc.clientCredentialsGrant(rp, {});
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBe(3600);
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
  });

  it('reuses the IdP session (SSO) and ends it with RP-initiated logout', async () => {
    const { tokens, browser } = await signIn();
    const silent = oidc.buildAuthorizationUrl(rp, { redirect_uri: fx.redirectUri, scope: 'openid', prompt: 'none', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const before = await browser.follow(silent.href, t.url);
    expect(new URL(before.url).searchParams.get('code')).toBeTruthy();

    const endSession = oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://localhost:8080/bye', state: 'bye1' });
    const confirm = await browser.follow(endSession.href, t.url);
    const page = await confirm.response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(page)![1]!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
    const done = await browser.follow(action, t.url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    expect(done.url).toBe('http://localhost:8080/bye?state=bye1');

    const after = await browser.follow(silent.href, t.url);
    expect(new URL(after.url).searchParams.get('error')).toBe('login_required');
  });

  it('answers every request under the /cis prefix too', async () => {
    const cis = refusalOf(oidc.discovery(new URL(`${t.url}/cis/oidc`), fx.client.client_id, fx.client.client_secret, undefined, {
      ...insecure,
      algorithm: 'oidc',
    }));
    // the issuer is /oidc; a /cis/oidc discovery URL must still serve the same issuer document
    const doc = await (await fetch(`${t.url}/cis/oidc/.well-known/openid-configuration`)).json() as Record<string, string>;
    expect(doc.issuer).toBe(t.issuer);
    expect(doc.authorization_endpoint).toBe(`${t.url}/cis/oidc/auth`);
    // openid-client rightly refuses an issuer mismatch
    expect(await cis).toEqual({ code: 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED', message: 'discovered metadata issuer does not match the expected issuer' });
    const browser = new Browser();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = new URL(`${t.url}/cis/oidc/auth`);
    url.search = new URLSearchParams({
      client_id: fx.client.client_id, response_type: 'code', redirect_uri: fx.redirectUri, scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const callback = await browser.login(url.href, t.url, fx.user.email, fx.user.password);
    const code = callback.searchParams.get('code')!;
    const token = await fetch(`${t.url}/cis/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: fx.client.client_id, client_secret: fx.client.client_secret, code,
        grant_type: 'authorization_code', redirect_uri: fx.redirectUri, code_verifier: verifier,
      }),
    });
    expect(token.status).toBe(200);
    expect(await token.json()).toMatchObject({ token_type: 'Bearer', scope: 'openid' });
  });
});
