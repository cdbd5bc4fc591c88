import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { BANK_SCOPES, CONSENT_URI, answer } from '../support/consent.js';
import {
  DEVICE_CODE_GRANT, DevicePages, USER_CODE, deviceClient, expireDeviceCode, insecure, pollOnce,
} from './support.js';

/** RFC 8628 against the real app and Redis; openid-client is the device, DevicePages the person. */
describe('device flow (RFC 8628)', () => {
  let t: TestIdp;
  let fx: Fixture;
  let device: Awaited<ReturnType<typeof deviceClient>>;
  let address = 0;
  /** each person on their own address, so the per-address lock of one test touches no other */
  const person = (base?: string) => new DevicePages(t, `198.51.100.${address += 1}`, base);

  beforeAll(async () => {
    t = await startIdp({ store: 'redis', overrides: { scopes: BANK_SCOPES } });
    fx = await createFixture(t);
    device = await deviceClient(t, fx);
  });
  afterAll(() => t.close());

  /** One poll's OAuth error and its description (openid-client's pollOnce keeps only the code). */
  async function pollAnswer(deviceCode: string): Promise<{ error?: string; error_description?: string }> {
    try {
      await oidc.genericGrantRequest(device.rp, DEVICE_CODE_GRANT, { device_code: deviceCode });
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError) return { error: err.error, ...(err.error_description ? { error_description: err.error_description } : {}) };
      throw err;
    }
    throw new Error('expected an OAuth error, got tokens');
  }

  it('answers the seed request with a typeable user code, the verification URIs, expires_in 600 and interval', async () => {
    // seed 002's sample body, verbatim apart from the credentials (loginType is deprecated and ignored)
    const res = await fetch(`${t.issuer}/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `client_id=${device.clientId}&client_secret=${device.clientSecret}&scope=openid&loginType=google-direct&acr_values=urn%3Atransmit%3Agoogle_direct`,
    });
    expect(res.status).toBe(200);
    const body = await res.json() as Record<string, unknown>;
    expect(body).toEqual({
      device_code: expect.any(String),
      user_code: expect.stringMatching(USER_CODE),
      verification_uri: `${t.issuer}/device`,
      verification_uri_complete: `${t.issuer}/device?user_code=${body.user_code}`,
      expires_in: 600,
      interval: 5,
    });
    expect(device.rp.serverMetadata().device_authorization_endpoint).toBe(`${t.issuer}/device/auth`);
  });

  it('serves the seed path under /cis, with verification URIs under /cis', async () => {
    const res = await fetch(`${t.url}/cis/oidc/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: device.clientId, client_secret: device.clientSecret!, scope: 'openid' }).toString(),
    });
    const started = await res.json() as { device_code: string; user_code: string; verification_uri: string };
    expect(started.verification_uri).toBe(`${t.url}/cis/oidc/device`);
    // the whole browser part works under /cis too
    const done = await person(`${t.url}/cis/oidc`).approve(started.user_code, fx.user);
    expect(done.html).toContain('Device connected');
    expect((await pollOnce(device.rp, started.device_code)).tokens?.access_token).toEqual(expect.any(String));
  });

  it('gives the polling device tokens once the user entered the code, signed in and allowed it', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid email offline_access' });
    const polling = oidc.pollDeviceAuthorizationGrant(device.rp, started);
    // typed the lazy way: lower case, a space instead of the dash
    const done = await person().approve(started.user_code.toLowerCase().replace('-', ' '), fx.user);
    expect(done.status).toBe(200);
    expect(done.html).toContain('Living-room TV is now signed in');

    const tokens = await polling;
    expect(tokens.claims()).toMatchObject({ sub: fx.user.user_id, aud: device.clientId, amr: ['pwd'] });
    expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'offline_access', 'openid']);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    await expect(oidc.fetchUserInfo(device.rp, tokens.access_token, fx.user.user_id)).resolves.toMatchObject({ email: fx.user.email });
    // refresh works for a device client without authorization_code
    const refreshed = await oidc.refreshTokenGrant(device.rp, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    // the device code is single-use; oidc-provider treats a replay as theft and revokes the grant
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(device.rp, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('answers authorization_pending while the user has not finished, and slow_down to a device polling too fast', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'authorization_pending' });
    // a user halfway (code entered, not yet allowed) changes nothing for the device, which polls again at once
    await person().enter(started.user_code);
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'slow_down' });
  });

  it('adds 5 seconds to the interval with each slow_down (RFC 8628 3.5)', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    expect(await pollAnswer(started.device_code)).toMatchObject({ error: 'authorization_pending' });
    expect(await pollAnswer(started.device_code))
      .toEqual({ error: 'slow_down', error_description: 'polling too fast: wait at least 10 seconds between requests' });
    expect(await pollAnswer(started.device_code))
      .toEqual({ error: 'slow_down', error_description: 'polling too fast: wait at least 15 seconds between requests' });
  });

  it('lets at most one of 10 concurrent polls through: the others get slow_down', async () => {
    for (let round = 0; round < 3; round += 1) {
      const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
      const answers = await Promise.all(Array.from({ length: 10 }, () => pollAnswer(started.device_code)));
      const errors = answers.map((a) => a.error);
      expect({ round, pending: errors.filter((e) => e === 'authorization_pending').length, slowDown: errors.filter((e) => e === 'slow_down').length })
        .toEqual({ round, pending: 1, slowDown: 9 });
    }
  });

  it('answers access_denied after the user cancelled on the confirmation page', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    const user = person();
    const confirm = await user.enter(started.user_code);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Connect Living-room TV?');
    expect(confirm.html).toContain(`<strong id="confirm-code">${started.user_code}</strong>`);
    expect(confirm.html).toContain('<li>Know who you are</li>');
    const cancelled = await user.answer(started.user_code, false);
    expect(cancelled.html).toContain('Not connected');
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'access_denied' });
    // the code cannot be used again
    const again = await person().enter(started.user_code);
    expect(again.status).toBe(400);
    expect(again.html).toContain('That code has already been used');
  });

  it('answers access_denied after the user cancelled on the login page', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    const user = person();
    await user.enter(started.user_code);
    const loginPage = await user.answer(started.user_code, true);
    expect(loginPage.html).toContain('to continue to <strong>Living-room TV</strong>');
    const abortPath = /href="([^"]+\/abort)"/.exec(loginPage.html)![1]!;
    const aborted = await user.open(new URL(abortPath, loginPage.url).href);
    expect(aborted.html).toContain('Not connected');
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'access_denied' });
  });

  it('answers expired_token once the code expired, and the page says it expired', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    await expireDeviceCode(t, started.device_code);
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'expired_token' });
    const page = await person().enter(started.user_code);
    expect(page.status).toBe(400);
    expect(page.html).toContain('That code has expired');
  });

  it('refuses a client without the device_code grant, and scopes the client may not have', async () => {
    const web = await oidc.discovery(new URL(t.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
    // oidc-provider's answer for a grant the client is not registered for
    await expect(oidc.initiateDeviceAuthorization(web, { scope: 'openid' })).rejects.toMatchObject({
      error: 'invalid_request', error_description: `${DEVICE_CODE_GRANT} is not allowed for this client`,
    });
    await expect(oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid phone' })).rejects.toMatchObject({ error: 'invalid_scope' });
  });

  it('serves a public client (pkce enforce_instead_of_secret) with its client_id alone', async () => {
    const pub = await deviceClient(t, fx, { name: 'Command-line tool', pkce: 'enforce_instead_of_secret', grant_types: [DEVICE_CODE_GRANT] });
    const started = await oidc.initiateDeviceAuthorization(pub.rp, { scope: 'openid' });
    await person().approve(started.user_code, fx.user);
    const { tokens } = await pollOnce(pub.rp, started.device_code);
    expect(tokens?.id_token).toEqual(expect.any(String));
    expect(tokens?.refresh_token).toBeUndefined();
  });

  it('sends the user to a third-party client\'s Consent URI after sign-in, as for any authorization', async () => {
    const budget = await deviceClient(t, fx, {
      name: 'Budget TV app', third_party: true, consent_uris: [CONSENT_URI], scopes: ['openid', 'balance'], grant_types: [DEVICE_CODE_GRANT],
    });
    const started = await oidc.initiateDeviceAuthorization(budget.rp, { scope: 'openid balance' });
    const user = person();
    const atConsentPage = await user.approve(started.user_code, fx.user);
    const consentUrl = new URL(atConsentPage.url);
    expect(consentUrl.origin + consentUrl.pathname).toBe(CONSENT_URI);
    expect(consentUrl.searchParams.getAll('requested_scope')).toEqual(['openid', 'balance']);
    expect(await pollOnce(budget.rp, started.device_code)).toEqual({ error: 'authorization_pending' });

    const done = await answer(t, user.browser, consentUrl, true);
    expect(done.pathname).toMatch(/^\/oidc\/device\/[^/]+$/);
    const { tokens } = await pollOnce(budget.rp, started.device_code);
    expect(tokens?.scope?.split(' ').sort()).toEqual(['balance', 'openid']);
  });

  it('prefills the code from verification_uri_complete without any script', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    const page = await person().open(started.verification_uri_complete!);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`value="${started.user_code}"`);
    expect(page.html).not.toContain('<script');
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'nonce-[^']+'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'$/);
  });

  it('refuses forms without the browser session or its xsrf token (CSRF), with a page, not an error', async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    // a cross-site form: the SameSite=Lax session cookie is not sent, so there is no session
    const forged = await fetch(`${t.issuer}/device`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user_code: started.user_code, confirm: 'yes' }).toString(), redirect: 'manual',
    });
    expect(forged.status).toBe(400);
    expect(forged.headers.get('set-cookie')).toBeNull();
    expect(await forged.text()).toContain('This page has expired');
    // the user's own session, but not the secret of its form
    const user = person();
    await user.open();
    const wrongSecret = await user.browser.request(`${t.issuer}/device`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf: 'guessed', user_code: started.user_code, confirm: 'yes' }).toString(),
    });
    expect(wrongSecret.status).toBe(400);
    expect(await wrongSecret.text()).toContain('Something went wrong with this form');
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'authorization_pending' });
  });
});

/** Which client settings may carry the device_code grant. */
describe('device_code grant in client settings', () => {
  let t: TestIdp;
  let appId: string;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    appId = (await api(t, 'POST', '/v1/applications', { name: 'Devices' })).body.app_id;
  });
  afterAll(() => t.close());

  const post = (settings: Record<string, unknown>) => api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'TV', ...settings });

  it('needs no redirect URI, and is not given to clients unless asked for', async () => {
    const created = await post({ grant_types: [DEVICE_CODE_GRANT], scopes: ['openid'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ grant_types: [DEVICE_CODE_GRANT], redirect_uris: [] });
    expect((await post({ redirect_uris: ['http://localhost:8080/cb'] })).body.grant_types).not.toContain(DEVICE_CODE_GRANT);
  });

  it('refuses combinations that cannot work', async () => {
    const noOpenid = await post({ grant_types: [DEVICE_CODE_GRANT], scopes: ['email'] });
    expect(noOpenid).toMatchObject({ status: 400, body: { message: `scopes: at least openid is required for ${DEVICE_CODE_GRANT}`, error_code: 400 } });
    const refreshAlone = await post({ grant_types: ['client_credentials', 'refresh_token'], scopes: [] });
    expect(refreshAlone.body.message).toBe(`grant_types: refresh_token requires authorization_code or ${DEVICE_CODE_GRANT}`);
    const fapi = await post({
      grant_types: ['authorization_code', DEVICE_CODE_GRANT], redirect_uris: ['https://tv.example/cb'], enforce_fapi2: true, require_par: true,
      token_binding: 'dpop', token_endpoint_auth_method: 'private_key_jwt', pkce: 'enforce_with_secret',
      jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] },
    });
    expect(fapi.body.message).toBe(`enforce_fapi2: FAPI 2.0 covers the authorization code flow, not ${DEVICE_CODE_GRANT}`);
  });

  it('can be added to an existing client', async () => {
    const created = await post({ redirect_uris: ['http://localhost:8080/cb'] });
    const updated = await api(t, 'PUT', `/v1/applications/${appId}/clients/${created.body.client_id}`, {
      grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
    });
    expect(updated.status).toBe(200);
    const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
    await expect(oidc.initiateDeviceAuthorization(rp, { scope: 'openid' })).resolves.toMatchObject({ expires_in: 600 });
  });
});
