import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { userToken } from '../support/sign-in.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { epochSeconds } from '../../lib/time.js';
import {
  answer, authorize, BANK_SCOPES, CONSENT_URI, createThirdParty, introspect, redeem,
  THIRD_PARTY_REDIRECT, type ThirdParty,
} from '../support/consent.js';

const DENIED_DESCRIPTION = 'User denied consent to requested scope';

/** Seed 000 end to end over HTTP: third-party client, Consent URI, callback, stored consent. */
describe('third-party consent', () => {
  let t: TestIdp;
  let fx: Fixture;
  let tp: ThirdParty;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis', overrides: { scopes: BANK_SCOPES } });
    fx = await createFixture(t);
    tp = await createThirdParty(t, fx);
  });
  afterAll(() => t.close());

  const consentsOf = async (userId: string, clientId = tp.client_id) =>
    (await api(t, 'GET', `/v1/consents?user_id=${userId}&client_id=${clientId}`)).body.consents as Array<Record<string, any>>;

  /** A user of their own, so consents of one test never satisfy another. */
  async function newUser(): Promise<Fixture> {
    const email = `u-${randomBytes(4).toString('hex')}@example.com`;
    const created = await api(t, 'POST', '/v1/users', { email, password: fx.user.password });
    return { ...fx, user: { user_id: created.body.user_id, email, password: fx.user.password } };
  }

  it('runs the seed 000 flow: auth request with prompt=consent, Consent URI, approval, code, seed token request', async () => {
    const user = await newUser();
    const browser = new Browser();
    // seed 000 step 2.1, verbatim apart from the host: no PKCE, the /cis prefix, prompt=consent
    const authUrl = `${t.url}/cis/oidc/auth?${new URLSearchParams({
      client_id: tp.client_id, scope: 'openid balance offline_access', response_type: 'code',
      redirect_uri: THIRD_PARTY_REDIRECT, prompt: 'consent', state: 'seed-state',
    })}`;
    const consentUrl = await browser.login(authUrl, t.url, user.user.email, user.user.password);

    expect(consentUrl.origin + consentUrl.pathname).toBe(CONSENT_URI);
    expect(consentUrl.searchParams.get('src_interaction')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(consentUrl.searchParams.getAll('requested_scope')).toEqual(['openid', 'balance', 'offline_access']);
    expect(consentUrl.searchParams.get('client_id')).toBe(tp.client_id);
    expect(consentUrl.searchParams.get('client_name')).toBe('Budget app');
    // the consent page's server can check who and what the request is about
    const lookup = await api(t, 'GET', `/v1/consent-requests/${consentUrl.searchParams.get('src_interaction')}`);
    expect(lookup.body).toEqual({
      user_id: user.user.user_id, client_id: tp.client_id, requested_scope: ['openid', 'balance', 'offline_access'], expires_at: expect.any(Number),
    });
    expect((await api(t, 'GET', `/v1/consent-requests/${randomBytes(32).toString('base64url')}`)).status).toBe(404);

    const redirected = await answer(t, browser, consentUrl, true);
    expect(redirected.origin + redirected.pathname).toBe(THIRD_PARTY_REDIRECT);
    expect(redirected.searchParams.get('state')).toBe('seed-state');
    const code = redirected.searchParams.get('code');
    expect(code).toBeTruthy();

    // seed 000 step 2.2: the curl request, form-encoded with the secret in the body
    const response = await fetch(`${t.url}/oidc/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: tp.client_id, client_secret: tp.client_secret, code: code!,
        grant_type: 'authorization_code', redirect_uri: THIRD_PARTY_REDIRECT,
      }),
    });
    expect(response.status).toBe(200);
    const tokens = await response.json() as Record<string, string>;
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'openid balance offline_access' });
    expect(tokens.refresh_token).toBeTruthy();

    // step 4: the first party validates the token it is shown
    expect(await introspect(t, fx, tokens.access_token!)).toMatchObject({
      active: true, client_id: tp.client_id, sub: user.user.user_id, scope: 'openid balance offline_access',
    });
    const [consent] = await consentsOf(user.user.user_id);
    expect(consent).toMatchObject({ user_id: user.user.user_id, client_id: tp.client_id, scopes: ['openid', 'balance', 'offline_access'] });
    expect(consent!.expires_at - consent!.granted_at).toBe(30 * 86_400);
  });

  it('remembers the consent in any browser, and asks only for scopes not yet consented', async () => {
    const user = await newUser();
    const first = await authorize(t, user, tp, new Browser(), { scope: 'openid balance' });
    await answer(t, new Browser(), first.url, true);
    // the answer above was given without the user's browser: nothing may have been stored
    expect(await consentsOf(user.user.user_id)).toEqual([]);

    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    const redirected = await answer(t, browser, asked.url, true, 'navigate');
    const tokens = await redeem(tp, asked, redirected);
    expect(tokens.scope).toBe('openid balance');

    // a new browser, a new login, the same scopes: straight back to the third party
    const again = await authorize(t, user, tp, new Browser(), { scope: 'openid balance' });
    expect(again.url.origin + again.url.pathname).toBe(THIRD_PARTY_REDIRECT);
    expect((await redeem(tp, again, again.url)).scope).toBe('openid balance');

    // one more scope: only the difference is asked, with what was already granted as context
    const more = await authorize(t, user, tp, browser, { scope: 'openid balance transactions' });
    expect(more.url.searchParams.getAll('requested_scope')).toEqual(['transactions']);
    expect(more.url.searchParams.getAll('granted_scope')).toEqual(['openid', 'balance']);
    const moreTokens = await redeem(tp, more, await answer(t, browser, more.url, true));
    expect(moreTokens.scope).toBe('openid balance transactions');
    const consents = await consentsOf(user.user.user_id);
    expect(consents).toHaveLength(1);
    expect(consents[0]!.scopes).toEqual(['openid', 'balance', 'transactions']);
  });

  it('sends a declined consent back as access_denied with the seed description, and keeps a receipt', async () => {
    const user = await newUser();
    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance', state: 'decline-state' });
    const redirected = await answer(t, browser, asked.url, false, 'navigate');
    expect(redirected.origin + redirected.pathname).toBe(THIRD_PARTY_REDIRECT);
    expect(Object.fromEntries(redirected.searchParams)).toMatchObject({
      error: 'access_denied', error_description: DENIED_DESCRIPTION, state: 'decline-state',
    });
    expect(redirected.searchParams.has('code')).toBe(false);
    expect(await consentsOf(user.user.user_id)).toEqual([]);
    const receipts = await api(t, 'GET', `/v1/consent-receipts?user_id=${user.user.user_id}`);
    expect(receipts.body.receipts).toEqual([expect.objectContaining({
      event: 'denied', client_id: tp.client_id, scopes: ['openid', 'balance'], actor: { type: 'user', id: user.user.user_id },
    })]);
  });

  it('answers a src_interaction once; forged, malformed and replayed ones get a 400 and never a code', async () => {
    const user = await newUser();
    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    const handle = asked.url.searchParams.get('src_interaction')!;
    const call = (query: string, headers: Record<string, string> = {}) => fetch(`${t.url}/auth/consent/callback?${query}`, { headers, redirect: 'manual' });

    const forged = await call(`src_interaction=${randomBytes(32).toString('base64url')}&approved=true`);
    expect(forged.status).toBe(400);
    expect(await forged.json()).toEqual({ error: 'invalid_request', error_description: 'src_interaction is unknown, expired or already used' });
    expect((await call('src_interaction=../../etc&approved=true')).status).toBe(400);
    expect((await call('approved=true')).status).toBe(400);
    // a bad `approved` does not use the handle up
    const unclear = await call(`src_interaction=${handle}&approved=yes`);
    expect(await unclear.json()).toEqual({ error: 'invalid_request', error_description: 'approved must be true or false' });

    const first = await call(`src_interaction=${handle}&approved=true`);
    expect(first.status).toBe(200);
    const replay = await new Browser().navigate(`${t.url}/auth/consent/callback?src_interaction=${handle}&approved=false`);
    expect(replay.status).toBe(400);
    expect(replay.headers.get('content-type')).toMatch(/^text\/html/);
    expect(replay.headers.get('location')).toBeNull();

    // two answers for one interaction: the parked approval is void as well
    const { redirect_to: redirectTo } = await first.json() as { redirect_to: string };
    const done = await browser.follow(redirectTo, t.url);
    expect(done.response.status).toBe(400);
    expect(new URL(done.url).searchParams.has('code')).toBe(false);
  });

  it('hands a parked answer to the browser that holds the interaction once', async () => {
    const user = await newUser();
    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    const first = await fetch(`${t.url}/auth/consent/callback?src_interaction=${asked.url.searchParams.get('src_interaction')}&approved=true`);
    const { redirect_to: redirectTo } = await first.json() as { redirect_to: string };
    const done = await browser.follow(redirectTo, t.url);
    expect(new URL(done.url).searchParams.get('code')).toBeTruthy();
    expect((await browser.request(redirectTo)).status).toBe(400);
  });

  describe('a stolen src_interaction', () => {
    it('approves nothing in another browser, nor when its continuation link is opened by the victim', async () => {
      const user = await newUser();
      const victim = new Browser();
      const asked = await authorize(t, user, tp, victim, { scope: 'openid balance' });
      const attacker = new Browser();
      const stolen = await answer(t, attacker, asked.url, true, 'navigate');
      // the attacker's browser lands on an IdP error page: no interaction cookie, no code
      expect(stolen.origin).toBe(t.url);
      expect(stolen.searchParams.has('code')).toBe(false);
      // the victim opens the same continuation (a link from the attacker): the answer is bound
      // to the browser that gave it
      const lured = await victim.follow(stolen.href, t.url);
      expect(lured.response.status).toBe(400);
      expect(await consentsOf(user.user.user_id)).toEqual([]);
    });

    it('is cancelled, with the parked answer, when the consent page answers as well', async () => {
      const user = await newUser();
      const victim = new Browser();
      const asked = await authorize(t, user, tp, victim, { scope: 'openid balance' });
      const handle = asked.url.searchParams.get('src_interaction')!;
      const callback = (approved: string) => fetch(`${t.url}/auth/consent/callback?src_interaction=${handle}&approved=${approved}`);
      const attackers = await callback('true');
      const { redirect_to: continuation } = await attackers.json() as { redirect_to: string };
      // the user declines on the real page: refused, and the attacker's approval is void too
      expect((await callback('false')).status).toBe(400);
      const lured = await victim.follow(continuation, t.url);
      expect(lured.response.status).toBe(400);
      expect(await consentsOf(user.user.user_id)).toEqual([]);
    });
  });

  it('takes no second answer for an interaction once one was applied', async () => {
    const user = await newUser();
    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    const first = await fetch(`${t.url}/auth/consent/callback?src_interaction=${asked.url.searchParams.get('src_interaction')}&approved=true`);
    const { redirect_to: continuation } = await first.json() as { redirect_to: string };
    const applied = await browser.request(continuation);
    expect(applied.status).toBe(303);

    // before following on, the interaction page is opened again: the consent page gets a new handle
    const again = await browser.request(continuation.replace(/\/consent$/, ''));
    const reissued = new URL(again.headers.get('location')!);
    const second = await fetch(`${t.url}/auth/consent/callback?src_interaction=${reissued.searchParams.get('src_interaction')}&approved=false`);
    expect(second.status).toBe(400);

    const done = await browser.follow(new URL(applied.headers.get('location')!, t.url).href, t.url);
    expect(new URL(done.url).searchParams.get('code')).toBeTruthy();
    expect((await consentsOf(user.user.user_id))[0]!.scopes).toEqual(['openid', 'balance']);
  });

  it('keeps the consent and other browsers\' tokens when the user logs out in one browser', async () => {
    const user = await newUser();
    const phone = new Browser();
    const kept = await authorize(t, user, tp, phone, { scope: 'openid balance offline_access', prompt: 'consent' });
    const keptTokens = await redeem(tp, kept, await answer(t, phone, kept.url, true));

    const laptop = new Browser();
    const other = await authorize(t, user, tp, laptop, { scope: 'openid balance' });
    expect(other.url.searchParams.get('code')).toBeTruthy();
    const otherTokens = await redeem(tp, other, other.url);
    const endSession = oidc.buildEndSessionUrl(tp.rp, { id_token_hint: otherTokens.id_token! });
    const confirm = await laptop.follow(endSession.href, t.url);
    const page = await confirm.response.text();
    await laptop.follow(/<form[^>]*action="([^"]+)"/.exec(page)![1]!, t.url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf: /name="xsrf" value="([^"]+)"/.exec(page)![1]!, logout: 'yes' }).toString(),
    });

    // the laptop's session tokens ended with its session; the phone's and the consent did not
    expect(await introspect(t, fx, otherTokens.access_token)).toEqual({ active: false });
    expect(await introspect(t, fx, keptTokens.refresh_token!)).toMatchObject({ active: true });
    expect(await consentsOf(user.user.user_id)).toHaveLength(1);
    const back = await authorize(t, user, tp, laptop, { scope: 'openid balance' });
    expect(back.url.searchParams.get('code')).toBeTruthy();
  });

  it('ends up with one consent when two browsers approve at once, and renews it on prompt=consent', async () => {
    const user = await newUser();
    const [a, b] = [new Browser(), new Browser()];
    const [askedA, askedB] = await Promise.all([
      authorize(t, user, tp, a, { scope: 'openid balance' }), authorize(t, user, tp, b, { scope: 'openid transactions' }),
    ]);
    await Promise.all([answer(t, a, askedA.url, true), answer(t, b, askedB.url, true)]);
    const [consent, ...others] = await consentsOf(user.user.user_id);
    expect(others).toEqual([]);
    // whichever approval lost the race merged its scopes into the winner's consent
    expect([...consent!.scopes].sort()).toEqual(['balance', 'openid', 'transactions']);

    // a renewal a second later moves the expiry to now + the consent ttl
    await sleep(1_100);
    const renewed = await authorize(t, user, tp, a, { scope: 'openid balance', prompt: 'consent' });
    expect(renewed.url.searchParams.getAll('requested_scope')).toEqual(['openid', 'balance']);
    const before = epochSeconds();
    await answer(t, a, renewed.url, true);
    const settled = epochSeconds();
    const [after] = await consentsOf(user.user.user_id);
    expect(after!.consent_id).toBe(consent!.consent_id);
    expect(after!.expires_at).toBeGreaterThan(consent!.expires_at);
    expect(after!.expires_at).toBeGreaterThanOrEqual(before + t.config.ttl.consent);
    expect(after!.expires_at).toBeLessThanOrEqual(settled + t.config.ttl.consent);
  });

  it('never grants or shows scopes outside the client\'s permissions', async () => {
    const user = await newUser();
    const browser = new Browser();
    // profile is a tenant scope the budgeting app may not ask for
    const refused = await authorize(t, user, tp, browser, { scope: 'openid balance profile' });
    expect(refused.url.origin + refused.url.pathname).toBe(THIRD_PARTY_REDIRECT);
    expect(refused.url.searchParams.get('error')).toBe('invalid_scope');

    // unknown values are ignored; offline_access without prompt=consent is dropped (OIDC Core 11)
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance admin offline_access' });
    expect(asked.url.searchParams.getAll('requested_scope')).toEqual(['openid', 'balance']);
    const tokens = await redeem(tp, asked, await answer(t, browser, asked.url, true));
    expect(tokens.scope).toBe('openid balance');
    expect(tokens.refresh_token).toBeUndefined();
    expect((await consentsOf(user.user.user_id))[0]!.scopes).toEqual(['openid', 'balance']);
  });

  it('releases claims asked for with `claims` only when an approved scope covers them', async () => {
    const user = await newUser();
    const browser = new Browser();
    const claims = JSON.stringify({ id_token: { email: null }, userinfo: { email: null } });
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance', claims });
    const tokens = await redeem(tp, asked, await answer(t, browser, asked.url, true));
    expect(tokens.claims()).toMatchObject({ sub: user.user.user_id });
    expect(tokens.claims()!.email).toBeUndefined();
    expect(await oidc.fetchUserInfo(tp.rp, tokens.access_token, user.user.user_id)).toEqual({ sub: user.user.user_id });
    // the refused claim is remembered, not asked about again
    const again = await authorize(t, user, tp, browser, { scope: 'openid balance', claims });
    expect(again.url.searchParams.get('code')).toBeTruthy();
  });

  it('answers prompt=none with consent_required until the user has consented', async () => {
    const user = await newUser();
    const browser = new Browser();
    await authorize(t, user, tp, browser, { scope: 'openid balance' });
    const silent = await authorize(t, user, tp, browser, { scope: 'openid balance', prompt: 'none' });
    expect(silent.url.searchParams.get('error')).toBe('consent_required');
    const asked2 = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    await redeem(tp, asked2, await answer(t, browser, asked2.url, true));
    const silent2 = await authorize(t, user, tp, browser, { scope: 'openid balance', prompt: 'none' });
    expect(silent2.url.searchParams.get('code')).toBeTruthy();
  });

  it('lets the consent page read the fetch answer cross-origin, and nobody else', async () => {
    const user = await newUser();
    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    const handle = asked.url.searchParams.get('src_interaction')!;
    const evil = await fetch(`${t.url}/auth/consent/callback?src_interaction=${handle}&approved=maybe`, { headers: { origin: 'https://evil.example' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const page = await fetch(`${t.url}/auth/consent/callback?src_interaction=${handle}&approved=true`, { headers: { origin: 'https://bank.example' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('access-control-allow-origin')).toBe('https://bank.example');
    expect(page.headers.get('access-control-allow-credentials')).toBeNull();
  });

  describe('client settings', () => {
    const create = (body: Record<string, unknown>) => api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'tp', redirect_uris: [THIRD_PARTY_REDIRECT], ...body });

    it('requires a Consent URI for a third-party client, under web rules', async () => {
      expect(await create({ third_party: true })).toMatchObject({
        status: 400, body: { message: 'consent_uris: a third-party client needs at least one Consent URI' },
      });
      expect((await create({ third_party: true, consent_uris: ['http://bank.example/consent'] })).body.message)
        .toBe('consent_uris[0]: must use https unless the host is localhost');
      expect((await create({ third_party: true, consent_uris: [CONSENT_URI], client_type: 'native', redirect_uris: ['com.budget.app:/cb'] })).status).toBe(201);
    });

    it('keeps management roles away from third parties and bounds the consent period', async () => {
      expect((await create({ third_party: true, consent_uris: [CONSENT_URI], roles: ['admin'] })).body.message)
        .toBe('roles: a third-party client cannot hold management roles');
      expect((await create({ third_party: true, consent_uris: [CONSENT_URI], consent_ttl: 0 })).status).toBe(400);
      const made = await create({ third_party: true, consent_uris: [CONSENT_URI] });
      expect(made.body).toMatchObject({ third_party: true, consent_uris: [CONSENT_URI], consent_ttl: 30 * 86_400 });
    });
  });

  it('is what a standard RP library sees: openid-client discovery, PKCE, ID token for the third party', async () => {
    const user = await newUser();
    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance', nonce: 'n-1' });
    const redirected = await answer(t, browser, asked.url, true);
    const tokens = await oidc.authorizationCodeGrant(tp.rp, redirected, {
      pkceCodeVerifier: asked.verifier, expectedState: asked.state, expectedNonce: 'n-1',
    });
    expect(tokens.claims()).toMatchObject({ iss: t.issuer, aud: tp.client_id, sub: user.user.user_id });
    expect(await oidc.fetchUserInfo(tp.rp, tokens.access_token, user.user.user_id)).toEqual({ sub: user.user.user_id });
  });

  it("lets a third party introspect and revoke only its own tokens, never the bank's apps' ones", async () => {
    const user = await newUser();
    const browser = new Browser();
    const asked = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    const own = await redeem(tp, asked, await answer(t, browser, asked.url, true));
    const firstParty = await userToken(t, fx, user.user);
    const asThirdParty = async (endpoint: 'introspection' | 'revocation', token: string) => {
      const response = await fetch(`${t.issuer}/token/${endpoint}`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: tp.client_id, client_secret: tp.client_secret }),
      });
      return { status: response.status, body: await response.text() };
    };

    expect(await asThirdParty('introspection', own.access_token)).toMatchObject({ status: 200, body: expect.stringContaining('"active":true') });
    expect(await asThirdParty('introspection', firstParty)).toEqual({ status: 200, body: '{"active":false}' });
    // oidc-provider refuses to revoke another client's token (and leaves it alone)
    expect(await asThirdParty('revocation', firstParty)).toEqual({
      status: 400, body: '{"error":"invalid_request","error_description":"client is not authorized to revoke the presented token"}',
    });
    expect(await introspect(t, fx, firstParty)).toMatchObject({ active: true, client_id: fx.client.client_id });
    expect(await asThirdParty('revocation', own.access_token)).toEqual({ status: 200, body: '' });
    expect(await introspect(t, fx, own.access_token)).toEqual({ active: false });
  });

  it('asks a native third party for consent on every authorization, even with a stored consent', async () => {
    const native = await createThirdParty(t, fx, { client_type: 'native' });
    const user = await newUser();
    const browser = new Browser();
    const first = await authorize(t, user, native, browser, { scope: 'openid balance' });
    expect(first.url.origin + first.url.pathname).toBe(CONSENT_URI);
    expect((await answer(t, browser, first.url, true)).searchParams.get('code')).toBeTruthy();
    expect(await consentsOf(user.user.user_id, native.client_id)).toHaveLength(1);

    const again = await authorize(t, user, native, browser, { scope: 'openid balance' });
    expect(again.url.origin + again.url.pathname).toBe(CONSENT_URI);
    expect(again.url.searchParams.getAll('requested_scope')).toEqual(['openid', 'balance']);
    // a web third party with a stored consent is not asked again
    const web = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    expect(web.url.origin + web.url.pathname).toBe(CONSENT_URI);
    await answer(t, browser, web.url, true);
    const webAgain = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    expect(webAgain.url.origin + webAgain.url.pathname).toBe(THIRD_PARTY_REDIRECT);
    expect(webAgain.url.searchParams.get('code')).toBeTruthy();
  });
});
