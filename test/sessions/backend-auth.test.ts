import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { freePort } from '../support/global-setup.js';
import { api, clientCredentialsToken, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { createThirdParty } from '../support/consent.js';
import { LOCK_SECONDS, WRONG_PASSWORDS_PER_SOURCE } from '../../lib/users/password-guessing.js';
import {
  authorize, backend, browserSignIn, createAppClient, createApplication, idTokenClaims, passcodeIn, startMailbox, type AppClient,
} from './support.js';

/** Seed 004: backend authentication methods, IdP sessions shared by apps and browsers, logout. */
describe('backend authentication and IdP sessions', () => {
  let t: TestIdp;
  let fx: Fixture;
  let appA: AppClient;
  let appB: AppClient;
  let mailbox: Awaited<ReturnType<typeof startMailbox>>;
  let gateway: http.Server;
  const texts: Array<{ to: string; text: string }> = [];
  const phone = `+1555${randomInt(1_000_000, 9_999_999)}`;
  const user = () => ({ email: fx.user.email, password: fx.user.password });

  beforeAll(async () => {
    mailbox = await startMailbox();
    const gatewayPort = await freePort();
    gateway = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => {
        texts.push(JSON.parse(body) as { to: string; text: string });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => gateway.listen(gatewayPort, '127.0.0.1', resolve));

    t = await startIdp({
      store: 'redis',
      env: { SMTP_URL: mailbox.url, SMS_WEBHOOK_URL: `http://127.0.0.1:${gatewayPort}/sms` },
      // these tests send the one user more passcodes than the default 5 per 15 minutes
      overrides: { otp: { length: 6, ttl: 300, attempts: 5, sendLimit: { points: 100, duration: 900 } } },
    });
    fx = await createFixture(t);
    await api(t, 'PUT', `/v1/users/${fx.user.user_id}`, { phone_number: phone, phone_number_verified: true });
    appA = await createAppClient(t, fx.appId);
    // another application of the tenant
    appB = await createAppClient(t, await createApplication(t, 'Second app'));
  });
  afterAll(async () => {
    await t.close();
    await mailbox.close();
    gateway.closeAllConnections();
    await new Promise((resolve) => gateway.close(resolve));
  });

  const passwordLogin = (app: AppClient, body: Record<string, unknown> = {}) =>
    backend(t, app, 'password/authenticate', { identifier: fx.user.email, password: fx.user.password, ...body });

  /** Asks for a passcode for the user and reads it from the email or SMS that reached the user. */
  async function sendPasscode(channel: 'email' | 'sms'): Promise<string> {
    const { received: mails } = mailbox;
    const before = channel === 'email' ? mails.length : texts.length;
    const sent = await backend(t, appA, 'otp/send', { channel, identifier: fx.user.email });
    expect(sent).toMatchObject({ status: 200, body: { expires_in: 300 } });
    if (channel === 'email') expect(mails[before]?.to).toEqual([fx.user.email]);
    else expect(texts[before]?.to).toBe(phone);
    return passcodeIn(channel === 'email' ? mails[before]!.text : texts[before]!.text)!;
  }

  it('follows the seed: sign in at app A, silent authentication from app B, logout, then "Session not found"', async () => {
    const signedIn = await passwordLogin(appA);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toEqual({
      access_token: expect.any(String), id_token: expect.any(String), refresh_token: expect.any(String),
      token_type: 'Bearer', expires_in: 3600, session_id: expect.stringMatching(/^[A-Za-z0-9_-]{21,}$/),
    });
    const sessionId = signedIn.body.session_id as string;
    const claimsA = await idTokenClaims(t, signedIn.body.id_token, appA.client_id);
    expect(claimsA).toMatchObject({ sub: fx.user.user_id, amr: ['pwd'], acr: 'sfa', sid: sessionId });
    expect(Math.abs(claimsA.auth_time as number - Date.now() / 1000)).toBeLessThan(5);
    // the tokens are ordinary tokens of app A
    expect(await oidc.fetchUserInfo(appA.rp, signedIn.body.access_token, fx.user.user_id)).toMatchObject({ email: fx.user.email });
    expect(await oidc.tokenIntrospection(appA.rp, signedIn.body.access_token)).toMatchObject({ active: true, client_id: appA.client_id });

    // the seed's own URL
    const silent = await api(t, 'POST', '/cis/v1/auth/session/authenticate', { session_id: sessionId }, appB.token);
    expect(silent).toMatchObject({ status: 200, body: { session_id: sessionId, token_type: 'Bearer' } });
    const claimsB = await idTokenClaims(t, silent.body.id_token, appB.client_id);
    expect(claimsB).toMatchObject({ sub: fx.user.user_id, aud: appB.client_id, amr: ['pwd'], acr: 'sfa', auth_time: claimsA.auth_time });
    expect(await oidc.tokenIntrospection(appB.rp, silent.body.access_token)).toMatchObject({ active: true, client_id: appB.client_id });

    const loggedOut = await backend(t, appB, 'session/logout', { session_id: sessionId });
    expect(loggedOut.status).toBe(204);
    for (const app of [appA, appB]) {
      expect(await backend(t, app, 'session/authenticate', { session_id: sessionId }))
        .toMatchObject({ status: 400, body: { message: 'Session not found', error_code: 400 } });
    }
    // logout revokes what the session's apps were issued
    expect((await oidc.tokenIntrospection(appA.rp, signedIn.body.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(appA.rp, signedIn.body.refresh_token)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await backend(t, appA, 'session/logout', { session_id: sessionId })).toMatchObject({ status: 400, body: { message: 'Session not found' } });
  });

  it('answers "Session not found" for a session_id that names no session', async () => {
    expect(await backend(t, appB, 'session/authenticate', { session_id: 'x'.repeat(21) }))
      .toMatchObject({ status: 400, body: { message: 'Session not found', error_code: 400 } });
    expect(await passwordLogin(appA, { session_id: 'x'.repeat(21) })).toMatchObject({ status: 400, body: { message: 'Session not found' } });
  });

  it('refuses a wrong password without saying which part was wrong', async () => {
    for (const identifier of [fx.user.email, 'nobody@example.com']) {
      expect(await backend(t, appA, 'password/authenticate', { identifier, password: 'wrong password' }))
        .toMatchObject({ status: 400, body: { message: 'The identifier or password is incorrect', error_code: 400 } });
    }
  });

  it(`locks password guessing per identifier and calling app after ${WRONG_PASSWORDS_PER_SOURCE} wrong passwords (429, Retry-After)`, async () => {
    const email = `guessed-${randomInt(1_000_000)}@example.com`;
    expect((await api(t, 'POST', '/v1/users', { email, email_verified: true, password: 'the right passphrase' })).status).toBe(201);
    const attempt = (app: AppClient, password: string) => backend(t, app, 'password/authenticate', { identifier: email, password });
    for (let i = 0; i < WRONG_PASSWORDS_PER_SOURCE; i += 1) expect((await attempt(appA, 'wrong password')).status).toBe(400);
    const locked = await attempt(appA, 'the right passphrase');
    expect(locked).toMatchObject({ status: 429, body: { message: 'Too many wrong passwords for this identifier; try again later', error_code: 429 } });
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(LOCK_SECONDS - 5);
    // another app's backend (another source) is not locked by this one's guesses
    expect((await attempt(appB, 'the right passphrase')).status).toBe(200);
  });

  it('signs in with a passcode sent by email, once only', async () => {
    const passcode = await sendPasscode('email');
    const signedIn = await backend(t, appA, 'otp/authenticate', { identifier: fx.user.email, passcode });
    expect(signedIn.status).toBe(200);
    expect(await idTokenClaims(t, signedIn.body.id_token, appA.client_id)).toMatchObject({ amr: ['otp'], acr: 'sfa' });
    expect(await backend(t, appA, 'otp/authenticate', { identifier: fx.user.email, passcode }))
      .toMatchObject({ status: 400, body: { message: 'The passcode is invalid or expired' } });
  });

  it('signs in with a passcode sent by SMS through the same delivery layer', async () => {
    const passcode = await sendPasscode('sms');
    const signedIn = await backend(t, appA, 'otp/authenticate', { identifier: phone, passcode });
    expect(await idTokenClaims(t, signedIn.body.id_token, appA.client_id)).toMatchObject({ sub: fx.user.user_id, amr: ['otp'] });
  });

  it('voids a passcode after five wrong tries, and a new one replaces the old', async () => {
    const first = await sendPasscode('email');
    const passcode = await sendPasscode('email');
    const wrong = passcode === '000000' ? '000001' : '000000';
    expect((await backend(t, appA, 'otp/authenticate', { identifier: fx.user.email, passcode: first === passcode ? wrong : first })).status).toBe(400);
    for (let i = 0; i < 4; i += 1) {
      expect((await backend(t, appA, 'otp/authenticate', { identifier: fx.user.email, passcode: wrong })).status).toBe(400);
    }
    expect(await backend(t, appA, 'otp/authenticate', { identifier: fx.user.email, passcode }))
      .toMatchObject({ status: 400, body: { message: 'The passcode is invalid or expired' } });
  });

  it('answers a passcode request for an unknown identifier like any other, and sends nothing', async () => {
    const before = mailbox.received.length;
    expect(await backend(t, appA, 'otp/send', { channel: 'email', identifier: 'nobody@example.com' }))
      .toMatchObject({ status: 200, body: { message: 'Passcode sent', expires_in: 300 } });
    await sleep(200);
    expect(mailbox.received).toHaveLength(before);
  });

  it('adds a second factor to the session: amr lists both methods and mfa, acr is mfa', async () => {
    const first = await passwordLogin(appA);
    const sessionId = first.body.session_id as string;
    const second = await backend(t, appA, 'otp/authenticate', { identifier: fx.user.email, passcode: await sendPasscode('email'), session_id: sessionId });
    expect(second.body.session_id).toBe(sessionId);
    const claims = await idTokenClaims(t, second.body.id_token, appA.client_id);
    expect(claims).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: 'mfa', sid: sessionId });
    // another app sees the session's factors
    const silent = await backend(t, appB, 'session/authenticate', { session_id: sessionId });
    expect(await idTokenClaims(t, silent.body.id_token, appB.client_id)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: 'mfa', auth_time: claims.auth_time });
    // the same method twice is still one factor
    const again = await passwordLogin(appA);
    const repeated = await passwordLogin(appA, { session_id: again.body.session_id });
    expect(await idTokenClaims(t, repeated.body.id_token, appA.client_id)).toMatchObject({ amr: ['pwd'], acr: 'sfa' });
  });

  it('does not add a factor of another user to a session', async () => {
    const other = { email: `other-${randomInt(1e9)}@example.com`, password: 'another long passphrase' };
    await api(t, 'POST', '/v1/users', { ...other, email_verified: true });
    const session = await passwordLogin(appA);
    expect(await backend(t, appA, 'password/authenticate', { identifier: other.email, password: other.password, session_id: session.body.session_id }))
      .toMatchObject({ status: 400, body: { message: 'session_id: the session belongs to another user' } });
  });

  it('issues an access token for one of the client\'s resources, and ID token claims asked for', async () => {
    const uri = `https://api.example/${randomInt(1e9)}`;
    expect((await api(t, 'POST', `/v1/applications/${fx.appId}/resources`, { uri, access_token_ttl: 600, refresh_token_ttl: 3600, scopes: ['read'] })).status).toBe(201);
    const app = await createAppClient(t, fx.appId, { resources: [uri] });
    const signedIn = await passwordLogin(app, { resource: uri, claims: { id_token: { email: null } } });
    expect(signedIn).toMatchObject({ status: 200, body: { expires_in: 600 } });
    expect(await oidc.tokenIntrospection(app.rp, signedIn.body.access_token)).toMatchObject({ active: true, aud: uri, scope: 'read' });
    expect(await idTokenClaims(t, signedIn.body.id_token, app.client_id)).toMatchObject({ email: fx.user.email });
    expect(await passwordLogin(appA, { resource: uri }))
      .toMatchObject({ status: 400, body: { message: 'resource: resource is not registered for this client' } });
  });

  it('lets no silent authentication racing a logout bring the session back', async () => {
    for (let round = 0; round < 5; round += 1) {
      const id = (await passwordLogin(appA)).body.session_id as string;
      const [silent, out] = await Promise.all([
        backend(t, appB, 'session/authenticate', { session_id: id }), backend(t, appB, 'session/logout', { session_id: id }),
      ]);
      expect(out.status).toBe(204);
      expect(await backend(t, appB, 'session/authenticate', { session_id: id })).toMatchObject({ status: 400, body: { message: 'Session not found' } });
      // either outcome is fine, and each is checked: refused, or its tokens already dead
      if (silent.status === 200) expect(await oidc.tokenIntrospection(appB.rp, silent.body.access_token)).toMatchObject({ active: false });
      else expect(silent).toMatchObject({ status: 400, body: { message: 'Session not found' } });
    }
  });

  it('releases claims asked for only within the client\'s scopes', async () => {
    const narrow = await createAppClient(t, fx.appId, { scopes: ['openid'] });
    const signedIn = await passwordLogin(narrow, { claims: { id_token: { email: null, given_name: null } } });
    expect(signedIn.status).toBe(200);
    const claims = await idTokenClaims(t, signedIn.body.id_token, narrow.client_id);
    expect(claims.sub).toBe(fx.user.user_id);
    expect(claims.email).toBeUndefined();
    expect(claims.given_name).toBeUndefined();
  });

  it('validates bodies with a 400 naming the field', async () => {
    expect(await backend(t, appA, 'session/authenticate', {})).toMatchObject({ status: 400, body: { message: 'session_id is a required field' } });
    expect(await backend(t, appA, 'session/logout', { session_id: 'no spaces allowed' }))
      .toMatchObject({ status: 400, body: { message: 'session_id is not a session id' } });
    expect(await backend(t, appA, 'otp/send', { channel: 'fax', identifier: fx.user.email })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^channel must be one of/) } });
    expect(await passwordLogin(appA, { scope: 'openid' })).toMatchObject({ status: 400, body: { message: 'unknown field: scope' } });
    expect(await passwordLogin(appA, { claims: { id_token: ['email'] } })).toMatchObject({ status: 400, body: { message: 'claims.id_token must map claim names to null or an object' } });
  });

  it('takes any first-party app\'s own client token, without management roles; refuses others', async () => {
    expect((await api(t, 'POST', '/v1/auth/session/authenticate', { session_id: 'x'.repeat(21) }, 'not-a-token')).status).toBe(401);
    // a user's access token is not a client access token
    const userToken = (await passwordLogin(appA)).body.access_token as string;
    expect((await api(t, 'POST', '/v1/auth/session/logout', { session_id: 'x'.repeat(21) }, userToken)).status).toBe(401);
    const thirdParty = await createThirdParty(t, fx, { scopes: ['openid'], grant_types: ['authorization_code', 'client_credentials'] });
    const thirdPartyToken = await clientCredentialsToken(t.issuer, thirdParty.client_id, thirdParty.client_secret);
    expect(await api(t, 'POST', '/v1/auth/password/authenticate', { identifier: fx.user.email, password: fx.user.password }, thirdPartyToken))
      .toMatchObject({ status: 403, body: { message: 'Forbidden: third-party clients cannot authenticate users from their backend' } });
    // the management client: roles, but no openid scope
    expect(await api(t, 'POST', '/v1/auth/password/authenticate', { identifier: fx.user.email, password: fx.user.password }))
      .toMatchObject({ status: 403, body: { message: 'Forbidden: the client is not allowed the openid scope' } });
  });

  describe('with the browser', () => {
    // the ID token carries the session's sid when asked for (OIDC claims parameter)
    const withSid = { claims: JSON.stringify({ id_token: { sid: null } }) };

    it('lets apps use a browser session by the sid of its ID token, and logs the browser out with it', async () => {
      const browser = new Browser();
      const tokens = await browserSignIn(t, appA, browser, user(), withSid);
      const sid = tokens.claims()!.sid as string;
      expect(sid).toMatch(/^[A-Za-z0-9_-]{21,}$/);
      // browser SSO: any app of the tenant gets a code without interaction
      expect((await authorize(t, appB, browser, user(), { prompt: 'none' })).landed.searchParams.get('code')).toBeTruthy();

      const silent = await backend(t, appB, 'session/authenticate', { session_id: sid });
      expect(silent.status).toBe(200);
      expect(await idTokenClaims(t, silent.body.id_token, appB.client_id)).toMatchObject({ sub: fx.user.user_id, amr: ['pwd'], auth_time: tokens.claims()!.auth_time });

      expect((await backend(t, appB, 'session/logout', { session_id: sid })).status).toBe(204);
      for (const app of [appA, appB]) {
        const { landed } = await authorize(t, app, browser, user(), { prompt: 'none' });
        expect(Object.fromEntries(landed.searchParams)).toMatchObject({ error: 'login_required', state: 'st' });
      }
      expect((await backend(t, appA, 'session/authenticate', { session_id: sid })).body).toEqual({ message: 'Session not found', error_code: 400 });
    });

    it('asks for a new sign-in for acr_values=mfa until a second factor is added to the browser session', async () => {
      const browser = new Browser();
      const tokens = await browserSignIn(t, appA, browser, user(), withSid);
      expect(tokens.claims()).toMatchObject({ acr: 'sfa', amr: ['pwd'] });
      const refused = (await authorize(t, appB, browser, user(), { prompt: 'none', acr_values: 'mfa' })).landed;
      expect(refused.searchParams.get('error')).toBe('login_required');
      // a list that accepts sfa is satisfied
      expect((await authorize(t, appB, browser, user(), { prompt: 'none', acr_values: 'sfa mfa' })).landed.searchParams.get('code')).toBeTruthy();

      const sid = tokens.claims()!.sid as string;
      const otp = await backend(t, appA, 'otp/authenticate', { identifier: fx.user.email, passcode: await sendPasscode('email'), session_id: sid });
      expect(otp.status).toBe(200);
      const mfa = await browserSignIn(t, appB, browser, user(), { prompt: 'none', acr_values: 'mfa' });
      expect(mfa.claims()).toMatchObject({ acr: 'mfa', amr: ['pwd', 'otp', 'mfa'] });
    });

    it('asks for a new sign-in for max_age until a backend authentication renews auth_time', async () => {
      const browser = new Browser();
      const tokens = await browserSignIn(t, appA, browser, user(), withSid);
      await sleep(2100);
      const tooOld = (await authorize(t, appA, browser, user(), { prompt: 'none', max_age: '1' })).landed;
      expect(tooOld.searchParams.get('error')).toBe('login_required');

      await passwordLogin(appA, { session_id: tokens.claims()!.sid });
      const renewed = await browserSignIn(t, appA, browser, user(), { prompt: 'none', max_age: '1' });
      expect(renewed.claims()!.auth_time).toBeGreaterThan(tokens.claims()!.auth_time!);
    });
  });
});
