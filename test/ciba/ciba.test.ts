import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import * as oidc from 'openid-client';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import {
  CIBA_GRANT_TYPE, cibaClient, complete, insecure, linkIn, newUser, oauthErrorOf, startMailbox, startSmsGateway, userToken,
  type TestUser,
} from './support.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LOGIN_URI = 'https://bank.example/ciba-login?brand=blue';
const SMS_SECRET = 'sms-webhook-secret-0123';
const REFUSED_PHONE = '+15550000400';

/** CIBA poll mode (seed 003), driven by openid-client against a real IdP, SMTP server and SMS gateway. */
describe('CIBA', () => {
  let t: TestIdp;
  let fx: Fixture;
  let mailbox: Awaited<ReturnType<typeof startMailbox>>;
  let sms: Awaited<ReturnType<typeof startSmsGateway>>;
  let callCenter: Awaited<ReturnType<typeof cibaClient>>;
  let user: TestUser;

  beforeAll(async () => {
    mailbox = await startMailbox();
    sms = await startSmsGateway(new Set([REFUSED_PHONE]));
    t = await startIdp({ env: { SMTP_URL: mailbox.url, SMS_WEBHOOK_URL: sms.url, SMS_WEBHOOK_SECRET: SMS_SECRET } });
    fx = await createFixture(t);
    callCenter = await cibaClient(t, fx, LOGIN_URI);
    user = await newUser(t);
  });
  afterAll(async () => {
    await t.close();
    await mailbox.close();
    await sms.close();
  });

  const initiate = (params: Record<string, string>) => oidc.initiateBackchannelAuthentication(callCenter.rp, { scope: 'openid', ...params });
  /** One token request, as a polling client makes it. */
  const poll = (authReqId: string, rp = callCenter.rp) => oidc.genericGrantRequest(rp, CIBA_GRANT_TYPE, { auth_req_id: authReqId });
  /** The backchannel endpoint without openid-client, for what it cannot show (status codes, headers, /cis). */
  const backchannel = async (params: Record<string, string>, prefix = '') => {
    const response = await fetch(`${t.url}${prefix}/oidc/backchannel`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: callCenter.clientId, client_secret: callCenter.clientSecret, scope: 'openid', ...params }),
    });
    return { status: response.status, headers: response.headers, body: await response.json() as Record<string, string> };
  };
  /** An auth link handed back to the client (no message sent). */
  const linkRequest = (who: TestUser, params: Record<string, string> = {}) => initiate({
    login_hint: who.user_id, request_context: JSON.stringify({ channel: 'link', login_hint_type: 'user_id' }), ...params,
  });

  it('is enabled per client through the management API and advertised in discovery', async () => {
    const meta = callCenter.rp.serverMetadata();
    expect(meta.backchannel_authentication_endpoint).toBe(`${t.issuer}/backchannel`);
    expect(meta.backchannel_token_delivery_modes_supported).toEqual(['poll']);
    expect(meta.grant_types_supported).toContain(CIBA_GRANT_TYPE);

    const path = `/v1/applications/${fx.appId}/clients/${callCenter.clientId}`;
    expect((await api(t, 'GET', path)).body.ciba_authorization).toEqual({ enabled: true, login_uri: LOGIN_URI });
    const refused = async (body: unknown) => (await api(t, 'PUT', path, body)).body;
    expect(await refused({ ciba_authorization: { enabled: true } }))
      .toEqual({ message: 'ciba_authorization: login_uri is required when enabled', error_code: 400 });
    expect((await refused({ ciba_authorization: { enabled: true, login_uri: 'http://bank.example/login' } })).message)
      .toBe('ciba_authorization.login_uri: must use https unless the host is localhost');
    expect((await refused({ ciba_authorization: { enabled: true, login_uri: LOGIN_URI, poll: true } })).message).toBe('unknown field: poll');
    expect((await refused({ pkce: 'enforce_instead_of_secret', grant_types: ['authorization_code'] })).message)
      .toBe('ciba_authorization: only confidential clients may initiate backchannel authentication');
    expect((await refused({ third_party: true, consent_uris: ['https://bank.example/consent'] })).message)
      .toBe('ciba_authorization: only first-party clients may initiate backchannel authentication');

    // a client without CIBA may not use the endpoint
    const plain = await oidc.discovery(new URL(t.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
    expect(await oauthErrorOf(oidc.initiateBackchannelAuthentication(plain, { scope: 'openid', login_hint: user.phone_number })))
      .toMatchObject({ error_description: 'urn:openid:params:grant-type:ciba is not allowed for this client' });

    // disabled again: the grant type is gone at once
    expect((await api(t, 'PUT', path, { ciba_authorization: { enabled: false } })).body.ciba_authorization).toEqual({ enabled: false, login_uri: null });
    expect(await oauthErrorOf(initiate({ login_hint: user.phone_number })))
      .toMatchObject({ error_description: 'urn:openid:params:grant-type:ciba is not allowed for this client' });
    expect((await api(t, 'PUT', path, { ciba_authorization: { enabled: true, login_uri: LOGIN_URI } })).status).toBe(200);
  });

  it('sends the link by SMS by default (phone login_hint), signed, and returns auth_req_id, expires_in and interval', async () => {
    const response = await initiate({ login_hint: user.phone_number, binding_message: 'Call-4711' });
    expect(response).toEqual({ auth_req_id: expect.any(String), expires_in: 600, interval: 5 });

    const message = sms.received.at(-1)!;
    expect(message.to).toBe(user.phone_number);
    expect(message.signature).toBe(`sha256=${createHmac('sha256', SMS_SECRET).update(JSON.stringify({ to: message.to, text: message.text })).digest('hex')}`);
    expect(message.text.startsWith('To verify it\'s you, click this link: https://bank.example/ciba-login?')).toBe(true);
    const link = linkIn(message.text);
    expect(Object.fromEntries(link.searchParams)).toEqual({ brand: 'blue', auth_req_id: response.auth_req_id, binding_message: 'Call-4711' });

    expect(await oauthErrorOf(poll(response.auth_req_id))).toMatchObject({ error: 'authorization_pending', status: 400 });
  });

  it('sends the link by email with a custom message; the user approves and the polling client gets tokens', async () => {
    const response = await initiate({
      scope: 'openid email',
      login_hint: user.email,
      binding_message: 'A1B2',
      request_context: JSON.stringify({ channel: 'email', login_hint_type: 'email', custom_message: 'Ready to authenticate?' }),
    });
    const mail = mailbox.received.at(-1)!;
    expect(mail.to).toEqual([user.email]);
    expect(mail.subject).toBe('Verify it\'s you');
    expect(mail.text).toContain('Ready to authenticate? https://bank.example/ciba-login?');
    const link = linkIn(mail.text);
    expect(link.searchParams.get('auth_req_id')).toBe(response.auth_req_id);
    expect(link.searchParams.get('binding_message')).toBe('A1B2');

    // the client polls at the advertised interval while the user signs in on the login page and approves
    const polling = oidc.pollBackchannelAuthenticationGrant(callCenter.rp, response);
    const token = await userToken(t, fx, user);
    expect(await complete(t, token, { auth_req_id: link.searchParams.get('auth_req_id'), approved: true }))
      .toEqual({ status: 200, body: { auth_req_id: response.auth_req_id, approved: true } });
    const tokens = await polling;

    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: user.user_id, aud: callCenter.clientId, amr: ['pwd'], acr: 'sfa' });
    expect(claims.auth_time).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(tokens.scope).toBe('openid email');
    expect(await oidc.fetchUserInfo(callCenter.rp, tokens.access_token, user.user_id))
      .toMatchObject({ sub: user.user_id, email: user.email, email_verified: true });

    // the request is used up: answering again is refused; polling again is a replay (oidc-provider revokes the tokens)
    expect(await complete(t, token, { auth_req_id: response.auth_req_id, approved: true }))
      .toEqual({ status: 409, body: { message: 'This request has already been answered', error_code: 409 } });
    expect(await oauthErrorOf(poll(response.auth_req_id))).toMatchObject({ error: 'invalid_grant' });
    expect(await oidc.tokenIntrospection(callCenter.rp, tokens.access_token)).toEqual({ active: false });
  }, 20_000);

  it('answers slow_down to a client polling faster than the interval', async () => {
    const user = await newUser(t);
    const { auth_req_id: id } = await linkRequest(user);
    expect(await oauthErrorOf(poll(id))).toMatchObject({ error: 'authorization_pending' });
    expect(await oauthErrorOf(poll(id))).toMatchObject({ error: 'slow_down' });
  });

  it('lets at most one of 10 concurrent polls through (the others get slow_down), each adding 5 seconds', async () => {
    const user = await newUser(t);
    for (let round = 0; round < 3; round += 1) {
      const { auth_req_id: id } = await linkRequest(user);
      const errors = (await Promise.all(Array.from({ length: 10 }, () => oauthErrorOf(poll(id))))).map((p) => p.error);
      expect({ round, pending: errors.filter((e) => e === 'authorization_pending').length, slowDown: errors.filter((e) => e === 'slow_down').length })
        .toEqual({ round, pending: 1, slowDown: 9 });
      // nine too fast: 5 + 9 * 5, then one more
      expect(await oauthErrorOf(poll(id)))
        .toEqual({ status: 400, error: 'slow_down', error_description: 'polling too fast: wait at least 55 seconds between requests' });
    }
  });

  it('returns the link itself with channel link (user_id hint), under /cis, and sends nothing', async () => {
    const sent = sms.received.length + mailbox.received.length;
    const { status, body } = await backchannel({
      login_hint: user.user_id, binding_message: 'Q?#+/', request_context: JSON.stringify({ channel: 'link', login_hint_type: 'user_id' }),
    }, '/cis');
    expect(status).toBe(200);
    expect(body).toEqual({ auth_req_id: expect.any(String), expires_in: 600, interval: 5, link: expect.any(String) });
    const link = new URL(body.link!);
    expect(`${link.origin}${link.pathname}`).toBe('https://bank.example/ciba-login');
    expect(link.searchParams.get('auth_req_id')).toBe(body.auth_req_id);
    expect(link.searchParams.get('binding_message')).toBe('Q?#+/');
    expect(sms.received.length + mailbox.received.length).toBe(sent);

    const token = await userToken(t, fx, user);
    expect((await complete(t, token, { auth_req_id: body.auth_req_id, approved: true }, '/cis')).status).toBe(200);
    const tokens = await oidc.pollBackchannelAuthenticationGrant(callCenter.rp, { auth_req_id: body.auth_req_id!, expires_in: 600, interval: 0 });
    expect(tokens.claims()).toMatchObject({ sub: user.user_id, amr: ['pwd'], acr: 'sfa' });
  });

  it('a declined request ends polling with access_denied', async () => {
    const user = await newUser(t);
    const response = await linkRequest(user);
    const token = await userToken(t, fx, user);
    expect(await complete(t, token, { auth_req_id: response.auth_req_id, approved: false }))
      .toEqual({ status: 200, body: { auth_req_id: response.auth_req_id, approved: false } });
    expect(await oauthErrorOf(oidc.pollBackchannelAuthenticationGrant(callCenter.rp, { ...response, interval: 0 })))
      .toMatchObject({ error: 'access_denied', error_description: 'the user declined the request' });
    // a decline is final too
    expect((await complete(t, token, { auth_req_id: response.auth_req_id, approved: true })).status).toBe(409);
  });

  it('takes exactly one of two answers arriving at once', async () => {
    const user = await newUser(t);
    const response = await linkRequest(user);
    const token = await userToken(t, fx, user);
    const answers = await Promise.all([true, false].map((approved) => complete(t, token, { auth_req_id: response.auth_req_id, approved })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const winner = answers.find((a) => a.status === 200)!.body.approved;
    const outcome = oidc.pollBackchannelAuthenticationGrant(callCenter.rp, { ...response, interval: 0 });
    if (winner) expect((await outcome).claims()!.sub).toBe(user.user_id);
    else expect(await oauthErrorOf(outcome)).toMatchObject({ error: 'access_denied' });
  });

  it('only the user the request names may answer it, with a token of a first-party app', async () => {
    const user = await newUser(t);
    const response = await linkRequest(user);
    const other = await newUser(t);
    const othersToken = await userToken(t, fx, other);
    expect(await complete(t, othersToken, { auth_req_id: response.auth_req_id, approved: true }))
      .toEqual({ status: 403, body: { message: 'Forbidden: this request is for another user', error_code: 403 } });
    // a client token is no user's token
    expect((await complete(t, await t.adminToken(), { auth_req_id: response.auth_req_id, approved: true })).status).toBe(401);
    expect((await complete(t, 'not-a-token', { auth_req_id: response.auth_req_id, approved: true })).status).toBe(401);
    expect(await oauthErrorOf(poll(response.auth_req_id))).toMatchObject({ error: 'authorization_pending' });

    const token = await userToken(t, fx, user);
    expect(await complete(t, token, { auth_req_id: response.auth_req_id, approved: 'yes' }))
      .toEqual({ status: 400, body: { message: 'approved must be a `boolean` type, but the final value was: `"yes"`.', error_code: 400 } });
    expect(await complete(t, token, { auth_req_id: 'unknown', approved: true }))
      .toEqual({ status: 400, body: { message: 'auth_req_id is unknown or has expired', error_code: 400 } });
    expect((await complete(t, token, { auth_req_id: response.auth_req_id, approved: true })).status).toBe(200);
    expect((await oidc.pollBackchannelAuthenticationGrant(callCenter.rp, { ...response, interval: 0 })).claims()!.sub).toBe(user.user_id);
  });

  it('expires after requested_expiry: polling gets expired_token and completing is refused', async () => {
    const user = await newUser(t);
    const response = await linkRequest(user, { requested_expiry: '2' });
    expect(response.expires_in).toBe(2);
    const token = await userToken(t, fx, user);
    await sleep(2_100);
    expect(await oauthErrorOf(poll(response.auth_req_id))).toMatchObject({ error: 'expired_token', status: 400 });
    expect(await complete(t, token, { auth_req_id: response.auth_req_id, approved: true }))
      .toEqual({ status: 400, body: { message: 'auth_req_id is unknown or has expired', error_code: 400 } });
  });

  it('validates binding_message, request_context and the user', async () => {
    const refused = (params: Record<string, string>) => oauthErrorOf(initiate({ login_hint: user.phone_number, ...params }));
    expect(await refused({ binding_message: 'has spaces' })).toEqual({
      error: 'invalid_binding_message',
      error_description: 'binding_message must be 1 to 20 characters of A-Z a-z 0-9 - . _ + / ! ? # (^[a-zA-Z0-9-._+/!?#]{1,20}$)',
      status: 400,
    });
    expect(await refused({ binding_message: 'x'.repeat(21) })).toMatchObject({ error: 'invalid_binding_message' });
    expect(await refused({ request_context: '{channel' }))
      .toEqual({ error: 'invalid_request', error_description: 'request_context: must be a stringified JSON object', status: 400 });
    expect(await refused({ request_context: JSON.stringify({ channel: 'fax' }) }))
      .toMatchObject({ error: 'invalid_request', error_description: 'request_context: channel must be one of sms, email, link' });
    expect(await refused({ request_context: JSON.stringify({ login_hint_type: 'username' }) }))
      .toMatchObject({ error: 'invalid_request', error_description: 'request_context: login_hint_type must be one of phone, email, user_id' });
    expect(await refused({ request_context: JSON.stringify({ chanel: 'email' }) }))
      .toMatchObject({ error: 'invalid_request', error_description: 'request_context: unknown member chanel' });
    expect(await refused({ request_context: JSON.stringify({ custom_message: '' }) }))
      .toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^request_context: custom_message must be 1 to 200 characters/) });
    // the client's words go out from the IdP's sender: no links, no addresses, one line
    for (const custom_message of ['Account locked, visit https://evil.example', 'Call us: help@evil.example', 'visit evil.example', 'two\nlines']) {
      expect(await refused({ request_context: JSON.stringify({ channel: 'link', login_hint_type: 'user_id', custom_message }), login_hint: user.user_id }))
        .toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^request_context: custom_message must /) });
    }
    // addresses that passed before (the full table is custom-message.test.ts)
    for (const [custom_message, reads] of [['open 203.0.113.7 and enter your password', 'an IP address'], ['evil .com', 'a host name'], ['evil(.)com', 'a written-out dot']]) {
      expect(await refused({ request_context: JSON.stringify({ channel: 'sms', custom_message }) })).toEqual({
        error: 'invalid_request', error_description: `request_context: custom_message must not contain anything that reads as ${reads}`, status: 400,
      });
    }
    expect(await refused({ requested_expiry: '-1' })).toMatchObject({ error: 'invalid_request' });

    // unknown users; a hint is read as the login_hint_type says (an email is no phone number)
    expect(await oauthErrorOf(initiate({ login_hint: '+15559999999' }))).toMatchObject({ error: 'unknown_user_id', status: 400 });
    expect(await oauthErrorOf(initiate({ login_hint: user.email }))).toMatchObject({ error: 'unknown_user_id' });
    expect(await oauthErrorOf(initiate({ login_hint: user.phone_number, request_context: JSON.stringify({ login_hint_type: 'email' }) })))
      .toMatchObject({ error: 'unknown_user_id' });
    expect(await oauthErrorOf(initiate({ login_hint_token: 'eyJ' }))).toMatchObject({ error: 'invalid_request' });

    // registered, but not reachable on the chosen channel
    const unverified = await newUser(t, { email_verified: false });
    expect(await oauthErrorOf(initiate({ login_hint: unverified.phone_number, request_context: JSON.stringify({ channel: 'email' }) })))
      .toEqual({ error: 'unknown_user_id', error_description: 'could not identify an end-user with a verified email address', status: 400 });
  });

  it('answers a delivery failure with an error and leaves no request behind', async () => {
    const unlucky = await newUser(t, { phone_number: REFUSED_PHONE });
    expect(await backchannel({ login_hint: REFUSED_PHONE })).toMatchObject({
      status: 503,
      body: { error: 'temporarily_unavailable', error_description: 'the auth link could not be sent: sms delivery failed: the gateway answered 400' },
    });
    // the gateway saw the link, so we know the request's id: it no longer exists anywhere
    const id = linkIn(sms.received.at(-1)!.text).searchParams.get('auth_req_id')!;
    expect(await t.idp.provider.BackchannelAuthenticationRequest.find(id, { ignoreExpiration: true })).toBeUndefined();
    expect(await oauthErrorOf(poll(id))).toMatchObject({ error: 'invalid_grant' });
    const token = await userToken(t, fx, { email: unlucky.email, password: unlucky.password });
    expect((await complete(t, token, { auth_req_id: id, approved: true })).status).toBe(400);
  });

  it('refuses an answer from the requesting client itself, or vouched for by a sign-in older than the request', async () => {
    const someone = await newUser(t);
    const earlier = await userToken(t, fx, someone);
    await sleep(1_100); // auth_time has one-second precision
    const first = await linkRequest(someone);
    expect(await complete(t, earlier, { auth_req_id: first.auth_req_id, approved: true })).toMatchObject({
      status: 403, body: { message: 'Forbidden: the user must sign in after the request was made (use prompt=login)', error_code: 403 },
    });
    const fresh = await userToken(t, fx, someone);
    expect((await complete(t, fresh, { auth_req_id: first.auth_req_id, approved: true })).status).toBe(200);
    const tokens = await poll(first.auth_req_id);
    // the call center now holds a token for the user: it cannot approve its next request with it.
    // The reason is asserted: its sign-in may or may not be older than the request (same second),
    // so a bare 403 would also come from the age check and hide a missing requester check
    const second = await linkRequest(someone);
    expect(await complete(t, tokens.access_token, { auth_req_id: second.auth_req_id, approved: true })).toMatchObject({
      status: 403, body: { message: 'Forbidden: the requesting client cannot answer its own request', error_code: 403 },
    });
  });

  it('limits the links sent to one user', async () => {
    const target = await newUser(t);
    for (let i = 0; i < 5; i += 1) await initiate({ login_hint: target.phone_number });
    const refused = await backchannel({ login_hint: target.phone_number });
    expect(refused).toMatchObject({ status: 429, body: { error: 'access_denied' } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // links count too: a client cannot probe users or pile up requests for them through it
    await expect(linkRequest(target)).rejects.toMatchObject({ error: 'access_denied' });
  });
});
