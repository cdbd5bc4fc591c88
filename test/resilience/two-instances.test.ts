import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, uniquePrefix, type Fixture, type TestIdp } from '../support/idp.js';
import { signInTokens } from '../support/sign-in.js';
import { Gate, holdingStore } from '../support/held-store.js';

/** Two IdPs of one deployment in this process: same Redis, same prefix (each with its own issuer URL). */
describe('two instances on one Redis', () => {
  let a: TestIdp;
  let b: TestIdp;
  let fx: Fixture;
  /** while set, both instances hold `consume` of authorization codes at this gate */
  let codeConsumes: Gate | undefined;

  beforeAll(async () => {
    const prefix = uniquePrefix();
    const wrapStore = (store: Parameters<typeof holdingStore>[0]) => holdingStore(store, {
      consume: (model) => (model === 'AuthorizationCode' ? codeConsumes : undefined),
    });
    a = await startIdp({ prefix, wrapStore });
    b = await startIdp({ prefix, wrapStore });
    fx = await createFixture(a);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('serve the same signing keys', async () => {
    const [ja, jb] = await Promise.all([a, b].map(async (t) => (await fetch(`${t.issuer}/jwks`)).json()));
    expect(ja).toEqual(jb);
    expect((ja as { keys: Array<{ alg: string }> }).keys.map((k) => k.alg)).toEqual(['RS256', 'ES256']);
  });

  it('let exactly one of 50 concurrent redemptions of a code succeed', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const authUrl = new URL(`${a.issuer}/auth`);
    authUrl.search = new URLSearchParams({
      client_id: fx.client.client_id, response_type: 'code', redirect_uri: fx.redirectUri, scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const callback = await new Browser().login(authUrl.href, a.url, fx.user.email, fx.user.password);
    const code = callback.searchParams.get('code')!;
    expect(code).toBeTruthy();

    const redeem = (t: TestIdp) => fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code, redirect_uri: fx.redirectUri, code_verifier: verifier,
        client_id: fx.client.client_id, client_secret: fx.client.client_secret,
      }),
    }).then(async (r) => ({ status: r.status, body: await r.json() as { error?: string } }));
    // requests sent together reach the store spread out: hold every consume until all 50
    // are pending (or 5 s passed), then let them go at once, so the store's consume is what decides
    const gate = codeConsumes = new Gate(50);
    let heldTogether = 0;
    const released = Promise.race([gate.full, new Promise((r) => setTimeout(r, 5000))]).then(() => {
      heldTogether = gate.held;
      gate.open();
    });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => redeem(i % 2 ? a : b)));
    await released;
    codeConsumes = undefined;
    expect(heldTogether).toBe(50);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const refused = results.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(49);
    expect(new Set(refused.map((r) => `${r.status} ${r.body.error}`))).toEqual(new Set(['400 invalid_grant']));
  });

  it('let at most one of concurrent refreshes of one refresh token succeed, and end the grant when the rotated token comes back', async () => {
    const tokenRequest = (t: TestIdp, params: Record<string, string>) => fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...params, client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
    }).then(async (r) => ({ status: r.status, body: await r.json() as { error?: string; refresh_token?: string; access_token?: string } }));
    const refresh = (t: TestIdp, token: string) => tokenRequest(t, { grant_type: 'refresh_token', refresh_token: token });
    const active = async (token: string) => (await (await fetch(`${a.issuer}/token/introspection`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
    })).json() as { active: boolean }).active;

    // a few rounds, so the race is run more than once
    for (let round = 0; round < 3; round += 1) {
      const verifier = oidc.randomPKCECodeVerifier();
      const authUrl = new URL(`${a.issuer}/auth`);
      authUrl.search = new URLSearchParams({
        client_id: fx.client.client_id, response_type: 'code', redirect_uri: fx.redirectUri, scope: 'openid offline_access', prompt: 'consent',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      }).toString();
      const callback = await new Browser().login(authUrl.href, a.url, fx.user.email, fx.user.password);
      const issued = await tokenRequest(a, {
        grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: fx.redirectUri, code_verifier: verifier,
      });
      const original = issued.body.refresh_token!;
      expect(original).toBeTruthy();

      const results = await Promise.all([a, b, a, b].map((t) => refresh(t, original)));
      const winners = results.filter((r) => r.status === 200);
      expect({ atMostOneWinner: winners.length <= 1, refused: results.filter((r) => r.status !== 200).map((r) => [r.status, r.body.error]) })
        .toEqual({ atMostOneWinner: true, refused: Array(results.length - winners.length).fill([400, 'invalid_grant']) });

      // the rotated token presented again: refused, and every token of the grant stops working
      expect(await refresh(b, original)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect(await active(issued.body.access_token!)).toBe(false);
      // the losers revoked the grant: the winner found it gone (no 200 at all) or its tokens died
      const won = winners[0];
      const outcome = won
        ? { refresh: (await refresh(a, won.body.refresh_token!)).body.error, accessTokenActive: await active(won.body.access_token!) }
        : 'no winner';
      expect(['no winner', { refresh: 'invalid_grant', accessTokenActive: false }]).toContainEqual(outcome);
    }
  });

  it('apply a client change made on one instance on the other at once', async () => {
    const created = await api(a, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'M', grant_types: ['client_credentials'], scopes: [] });
    const token = (t: TestIdp) => fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.client_id, client_secret: created.body.client_secret }),
    }).then((r) => r.json() as Promise<{ expires_in?: number; error?: string }>);
    expect((await token(b)).expires_in).toBe(3600); // b now caches the client
    await api(a, 'PUT', `/v1/applications/${fx.appId}/clients/${created.body.client_id}`, { access_token_ttl: 120 });
    let ttl: number | undefined;
    for (let i = 0; i < 20 && ttl !== 120; i += 1) {
      ttl = (await token(b)).expires_in;
      if (ttl !== 120) await new Promise((r) => setTimeout(r, 25));
    }
    expect(ttl).toBe(120);
    await api(a, 'DELETE', `/v1/applications/${fx.appId}/clients/${created.body.client_id}`);
    let error: string | undefined;
    for (let i = 0; i < 20 && !error; i += 1) {
      error = (await token(b)).error;
      if (!error) await new Promise((r) => setTimeout(r, 25));
    }
    expect(error).toBe('invalid_client');
  });

  it('apply a user change made on one instance on the other at once (claims, deletion)', async () => {
    const user = await api(a, 'POST', '/v1/users', { email: `u${Date.now()}@example.com`, email_verified: true, password: 'correct horse battery', given_name: 'Before' });
    const tokens = await signInTokens(a, fx, { email: user.body.email, password: 'correct horse battery' }, 'openid profile');
    const userinfoOnB = () => fetch(`${b.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const eventually = async (done: (response: Response, body: Record<string, unknown>) => boolean) => {
      for (let i = 0; i < 20; i += 1) {
        const response = await userinfoOnB();
        const body = await response.json() as Record<string, unknown>;
        if (done(response, body)) return { status: response.status, body };
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('the change never reached the other instance');
    };
    expect(await eventually((r) => r.status === 200)).toMatchObject({ body: { sub: user.body.user_id, given_name: 'Before' } }); // b caches the user now

    expect((await api(a, 'PUT', `/v1/users/${user.body.user_id}`, { given_name: 'After' })).status).toBe(200);
    expect(await eventually((_r, body) => body.given_name !== 'Before')).toMatchObject({ status: 200, body: { given_name: 'After' } });

    expect((await api(a, 'DELETE', `/v1/users/${user.body.user_id}`)).status).toBe(204);
    expect((await eventually((r) => r.status !== 200)).status).toBe(401);
  });

  it('finish a flow started on one instance on the other', async () => {
    const browser = new Browser();
    const verifier = oidc.randomPKCECodeVerifier();
    const authUrl = new URL(`${a.issuer}/auth`);
    authUrl.search = new URLSearchParams({
      client_id: fx.client.client_id, response_type: 'code', redirect_uri: fx.redirectUri, scope: 'openid', state: 's1',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    // the login page is fetched from a; the form is then posted to b (cookies are per host:port,
    // so we carry them over as a load balancer in front of both would)
    const page = await browser.follow(authUrl.href, a.url);
    const html = await page.response.text();
    const action = /action="([^"]+)"/.exec(html)![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const done = await browser.follow(`${b.url}${action}`, b.url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, identifier: fx.user.email, password: fx.user.password }).toString(),
    });
    // b's redirect goes to the issuer host a (PUBLIC_URL); follow it there
    const resumed = done.url.startsWith(a.url) ? await browser.follow(done.url, a.url) : done;
    const callback = new URL(resumed.url);
    expect(callback.searchParams.get('state')).toBe('s1');
    expect(callback.searchParams.get('code')).toBeTruthy();
  });
});
