import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { answer, authorize, BANK_SCOPES, createThirdParty, insecure, redeem } from '../support/consent.js';

const TENANT = 'acme-bank';

/** Seed 001 "Pre-defined Custom Claims" and org_id, over HTTP with openid-client as the RP. */
describe('predefined claims and org_id', () => {
  let t: TestIdp;
  let fx: Fixture;
  let user: Record<string, any>;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis', overrides: { tenantId: TENANT, scopes: BANK_SCOPES } });
    fx = await createFixture(t);
    await api(t, 'PUT', `/v1/applications/${fx.appId}`, { name: 'Acme online banking' });
    const updated = await api(t, 'PUT', `/v1/users/${fx.user.user_id}`, {
      middle_name: 'King', phone_number: '+15551234567', phone_number_verified: true, username: 'ada',
      picture: 'https://cdn.example/ada.png', birthday: '1815-12-10', language: 'en-GB', external_user_id: 'crm-1815',
      address: { street_address: '12 St James Sq', locality: 'London', country: 'GB' },
      groups: ['analysts'], roles: ['reviewer'], permissions: ['accounts:read'],
      custom_data: { tier: 'gold' },
      app_data: { [fx.appId]: { external_account_id: 'acc-42', custom_app_data: { theme: 'dark' } }, other_app: { external_account_id: 'not-this-one' } },
    });
    expect(updated.status).toBe(200);
    user = updated.body;
  });
  afterAll(() => t.close());

  /** A first-party client of the fixture's application with these settings, as openid-client sees it. */
  async function client(settings: Record<string, unknown>) {
    const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Claims client', redirect_uris: [fx.redirectUri], ...settings });
    expect(created.status).toBe(201);
    return oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
  }

  /** Code flow through the hosted login; `par` sends the request by PAR. */
  async function signIn(rp: oidc.Configuration, params: Record<string, string> = {}, par = false) {
    const verifier = oidc.randomPKCECodeVerifier();
    const request = {
      redirect_uri: fx.redirectUri, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    };
    const url = par ? await oidc.buildAuthorizationUrlWithPAR(rp, request) : oidc.buildAuthorizationUrl(rp, request);
    const callback = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
    return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
  }

  const userinfo = (rp: oidc.Configuration, tokens: { access_token: string }) => oidc.fetchUserInfo(rp, tokens.access_token, fx.user.user_id);

  it('publishes the predefined claims and org_id in discovery', async () => {
    const rp = await client({});
    expect(rp.serverMetadata().claims_supported).toEqual(expect.arrayContaining(['tid', 'fname', 'groups', 'custom_app_data', 'app_name', 'org_id', 'email']));
  });

  it('refuses unknown claim names and a userinfo selection next to userinfo_includes_id_token_claims', async () => {
    const post = (body: Record<string, unknown>) => api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Bad', redirect_uris: [fx.redirectUri], ...body });
    expect(await post({ id_token_claims: ['tid', 'new_user'] })).toMatchObject({
      status: 400, body: { error_code: 400, message: expect.stringMatching(/^id_token_claims\[1\] must be one of the following values: tid, fname/) },
    });
    expect((await post({ userinfo_claims: ['webauthn'] })).body.message).toMatch(/^userinfo_claims\[0\]/);
    expect(await post({ id_token_claims: ['tid'], userinfo_includes_id_token_claims: true, userinfo_claims: ['email'] })).toMatchObject({
      status: 400, body: { message: expect.stringMatching(/^userinfo_claims: must be empty when userinfo_includes_id_token_claims is true/) },
    });
    expect((await post({ userinfo_includes_id_token_claims: 'yes' })).status).toBe(400);
  });

  it('validates the user fields the claims come from', async () => {
    const put = (body: Record<string, unknown>) => api(t, 'PUT', `/v1/users/${fx.user.user_id}`, body);
    expect((await put({ groups: 'analysts' })).body.message).toMatch(/^groups/);
    expect((await put({ roles: [''] })).status).toBe(400);
    expect((await put({ app_data: { 'no spaces': {} } })).body.message).toMatch(/^app_data keys must be application ids/);
    expect((await put({ app_data: { [fx.appId]: { external_account_id: 'x'.repeat(257) } } })).body.message).toMatch(/external_account_id must be at most 256/);
    expect((await put({ app_data: { [fx.appId]: { nickname: 'x' } } })).body.message).toMatch(/unknown field|nickname/);
    expect((await put({ app_data: { [fx.appId]: { custom_app_data: { blob: 'x'.repeat(17 * 1024) } } } })).body.message).toMatch(/at most 16 KiB/);
    expect((await api(t, 'GET', `/v1/users/${fx.user.user_id}`)).body.app_data).toEqual(user.app_data);
  });

  it('puts the client\'s id_token_claims in the ID token unrequested, with values from the user, tenant and application', async () => {
    const rp = await client({
      id_token_claims: [
        'tid', 'fname', 'lname', 'mname', 'email', 'email_verified', 'phone_number', 'phone_number_verified', 'groups', 'roles',
        'permissions', 'birthday', 'language', 'address', 'city', 'country', 'street_address', 'username', 'picture', 'created_at',
        'auth_time', 'external_user_id', 'external_account_id', 'app_name', 'custom_data', 'custom_app_data',
      ],
    });
    const tokens = await signIn(rp);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      sub: fx.user.user_id, tid: TENANT, fname: 'Ada', lname: 'Lovelace', mname: 'King',
      email: fx.user.email, email_verified: true, phone_number: '+15551234567', phone_number_verified: true,
      groups: ['analysts'], roles: ['reviewer'], permissions: ['accounts:read'], birthday: '1815-12-10', language: 'en-GB',
      address: { street_address: '12 St James Sq', locality: 'London', country: 'GB' }, city: 'London', country: 'GB',
      street_address: '12 St James Sq', username: 'ada', picture: 'https://cdn.example/ada.png', created_at: user.created_at,
      external_user_id: 'crm-1815', external_account_id: 'acc-42', app_name: 'Acme online banking',
      custom_data: { tier: 'gold' }, custom_app_data: { theme: 'dark' },
    });
    expect(typeof claims.auth_time).toBe('number');
    // the userinfo selection is separate and empty: scope openid releases nothing more there
    expect(await userinfo(rp, tokens)).toEqual({ sub: fx.user.user_id });
  });

  it('returns userinfo_claims from userinfo only, and the ID token selection there with userinfo_includes_id_token_claims', async () => {
    const separate = await client({ id_token_claims: ['groups'], userinfo_claims: ['roles', 'auth_time', 'tid'] });
    const tokens = await signIn(separate);
    expect(tokens.claims()!.groups).toEqual(['analysts']);
    expect(tokens.claims()!.roles).toBeUndefined();
    const info = await userinfo(separate, tokens);
    expect(info).toEqual({ sub: fx.user.user_id, roles: ['reviewer'], tid: TENANT, auth_time: tokens.claims()!.auth_time });

    const shared = await client({ id_token_claims: ['groups', 'fname'], userinfo_includes_id_token_claims: true });
    const sharedTokens = await signIn(shared);
    expect(await userinfo(shared, sharedTokens)).toEqual({ sub: fx.user.user_id, groups: ['analysts'], fname: 'Ada' });
  });

  it('keeps standard scope claims as they were: in userinfo by scope, in the ID token only when requested', async () => {
    const rp = await client({});
    const tokens = await signIn(rp, { scope: 'openid email profile address' });
    const idToken = tokens.claims()!;
    for (const claim of ['email', 'picture', 'address', 'given_name']) expect(idToken[claim]).toBeUndefined();
    expect(await userinfo(rp, tokens)).toMatchObject({
      email: fx.user.email, email_verified: true, given_name: 'Ada', name: 'Ada King Lovelace', picture: 'https://cdn.example/ada.png',
      address: { locality: 'London' },
    });
    // scope openid alone releases none of them, although they are declared under openid for the selections
    expect(await userinfo(rp, await signIn(rp))).toEqual({ sub: fx.user.user_id });
  });

  it('honours the claims parameter for standard claims; predefined claims come only from the client\'s selection', async () => {
    const rp = await client({ id_token_claims: ['tid'] });
    const claims = JSON.stringify({ id_token: { email: null, picture: null, groups: null }, userinfo: { phone_number: null } });
    const tokens = await signIn(rp, { claims });
    expect(tokens.claims()).toMatchObject({ email: fx.user.email, picture: 'https://cdn.example/ada.png', tid: TENANT });
    expect(tokens.claims()!.groups).toBeUndefined();
    expect(await userinfo(rp, tokens)).toEqual({ sub: fx.user.user_id, phone_number: '+15551234567' });
  });

  it('applies a changed selection to tokens issued later, including the ID token of a refresh', async () => {
    const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Changing', redirect_uris: [fx.redirectUri], id_token_claims: ['fname'] });
    const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
    const tokens = await signIn(rp, { scope: 'openid offline_access', prompt: 'consent' });
    expect(tokens.claims()).toMatchObject({ fname: 'Ada' });
    await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${created.body.client_id}`, { id_token_claims: ['lname', 'tid'] });
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ lname: 'Lovelace', tid: TENANT });
    expect(refreshed.claims()!.fname).toBeUndefined();
  });

  describe('org_id', () => {
    it('adds the pushed authorization request\'s org_id to the ID token and userinfo, also after refresh', async () => {
      const rp = await client({});
      const tokens = await signIn(rp, { org_id: 'org_7f3a-eu', scope: 'openid offline_access', prompt: 'consent' }, true);
      expect(tokens.claims()!.org_id).toBe('org_7f3a-eu');
      expect(await userinfo(rp, tokens)).toEqual({ sub: fx.user.user_id, org_id: 'org_7f3a-eu' });
      expect((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).claims()!.org_id).toBe('org_7f3a-eu');
      expect((await signIn(rp)).claims()!.org_id).toBeUndefined();
    });

    it('refuses org_id on the front channel, where the user could change it', async () => {
      const rp = await client({});
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: fx.redirectUri, scope: 'openid', org_id: 'someone-elses-org', state: 'st',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      const location = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
      expect(Object.fromEntries(location.searchParams)).toMatchObject({
        error: 'invalid_request', error_description: 'org_id is only accepted in a pushed authorization request (PAR)',
      });
    });

    it('refuses org_id from a public (PKCE-only) client\'s PAR: it authenticates nothing, so its user would pick the org', async () => {
      const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
        name: 'Mobile', client_type: 'native', redirect_uris: ['com.example.app:/cb'], pkce: 'enforce_instead_of_secret', grant_types: ['authorization_code'],
      });
      expect(created.status).toBe(201);
      const challenge = await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier());
      const push = (params: Record<string, string>) => fetch(`${t.issuer}/request`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: created.body.client_id, response_type: 'code', redirect_uri: 'com.example.app:/cb', scope: 'openid',
          code_challenge: challenge, code_challenge_method: 'S256', ...params,
        }),
      }).then(async (response) => ({ status: response.status, body: await response.json() as Record<string, unknown> }));
      expect(await push({ org_id: 'someone-elses-org' })).toEqual({
        status: 400,
        body: { error: 'invalid_request', error_description: 'org_id is only accepted from a client that authenticates (not from a public, PKCE-only client)' },
      });
      // the same request without org_id is pushed as usual
      expect(await push({})).toEqual({ status: 201, body: { request_uri: expect.stringMatching(/^urn:ietf:params:oauth:request_uri:/), expires_in: expect.any(Number) } });
    });

    it('takes org_id only from the parameter: a value slipped into `claims` is replaced or dropped', async () => {
      const rp = await client({});
      const forged = JSON.stringify({ id_token: { org_id: { value: 'someone-elses-org' }, email: null }, userinfo: { org_id: { value: 'x' } } });
      const dropped = await signIn(rp, { claims: forged });
      expect(dropped.claims()!.org_id).toBeUndefined();
      expect(dropped.claims()!.email).toBe(fx.user.email);
      expect(await userinfo(rp, dropped)).toEqual({ sub: fx.user.user_id });
      const replaced = await signIn(rp, { claims: forged, org_id: 'org-1' }, true);
      expect(replaced.claims()!.org_id).toBe('org-1');
      expect(await userinfo(rp, replaced)).toMatchObject({ org_id: 'org-1' });
    });

    it('refuses a malformed org_id with invalid_request at the redirect URI, and at the PAR endpoint', async () => {
      const rp = await client({});
      for (const orgId of ['a'.repeat(129), 'org id', '<script>']) {
        const url = oidc.buildAuthorizationUrl(rp, {
          redirect_uri: fx.redirectUri, scope: 'openid', org_id: orgId, state: 'st',
          code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
        });
        const location = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
        expect(location.origin + location.pathname).toBe(fx.redirectUri);
        expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'invalid_request', state: 'st' });
        expect(location.searchParams.get('error_description')).toMatch(/org_id/);
      }
      await expect(oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: fx.redirectUri, scope: 'openid', org_id: 'a b' }))
        .rejects.toMatchObject({ error: 'invalid_request' });
    });
  });

  describe('third-party clients', () => {
    /** A user of their own, so one test's consent does not satisfy another's. */
    async function newUser(): Promise<Fixture> {
      const email = `u-${randomBytes(4).toString('hex')}@example.com`;
      const created = await api(t, 'POST', '/v1/users', { email, email_verified: true, password: fx.user.password, groups: ['g1'] });
      return { ...fx, user: { user_id: created.body.user_id, email, password: fx.user.password } };
    }

    it('receive the claims their operator selected, whatever the consented scopes', async () => {
      const tp = await createThirdParty(t, fx, { id_token_claims: ['groups', 'email'], userinfo_claims: ['tid'] });
      const someone = await newUser();
      const browser = new Browser();
      const asked = await authorize(t, someone, tp, browser, { scope: 'openid balance' });
      const tokens = await redeem(tp, asked, await answer(t, browser, asked.url, true));
      expect(tokens.claims()).toMatchObject({ groups: ['g1'], email: someone.user.email });
      expect(await oidc.fetchUserInfo(tp.rp, tokens.access_token, someone.user.user_id)).toEqual({ sub: someone.user.user_id, tid: TENANT });
    });

    it('get nothing unselected, even when asking for it with `claims`', async () => {
      const tp = await createThirdParty(t, fx);
      const someone = await newUser();
      const browser = new Browser();
      const claims = JSON.stringify({ id_token: { groups: null, email: null }, userinfo: { custom_data: null, email: null } });
      const asked = await authorize(t, someone, tp, browser, { scope: 'openid balance', claims });
      const tokens = await redeem(tp, asked, await answer(t, browser, asked.url, true));
      expect(tokens.claims()!.groups).toBeUndefined();
      expect(tokens.claims()!.email).toBeUndefined();
      expect(await oidc.fetchUserInfo(tp.rp, tokens.access_token, someone.user.user_id)).toEqual({ sub: someone.user.user_id });
    });

    it('get org_id without being sent back to the consent page', async () => {
      const tp = await createThirdParty(t, fx);
      const someone = await newUser();
      const browser = new Browser();
      const asked = await authorize(t, someone, tp, browser, { scope: 'openid balance', org_id: 'org-1' }, true);
      expect((await redeem(tp, asked, await answer(t, browser, asked.url, true))).claims()!.org_id).toBe('org-1');
      // the stored consent covers org_id: another organization goes straight back with a code
      const again = await authorize(t, someone, tp, browser, { scope: 'openid balance', org_id: 'org-2' }, true);
      expect(again.url.searchParams.get('code')).toBeTruthy();
      const tokens = await redeem(tp, again, again.url);
      expect(tokens.claims()!.org_id).toBe('org-2');
      expect(await oidc.fetchUserInfo(tp.rp, tokens.access_token, someone.user.user_id)).toEqual({ sub: someone.user.user_id, org_id: 'org-2' });
    });
  });
});
