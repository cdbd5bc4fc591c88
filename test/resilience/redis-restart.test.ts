import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Redis } from 'ioredis';
import { Browser } from '../support/browserless.js';
import {
  answer, authorize, BANK_SCOPES, createThirdParty, insecure, THIRD_PARTY_REDIRECT, type ThirdParty,
} from '../support/consent.js';
import { api, clientCredentialsToken, createFixture, uniquePrefix, type Fixture } from '../support/idp.js';
import { startIdpProcess, type IdpProcess } from '../support/idp-process.js';
import { startOwnRedis, until, type OwnRedis } from '../support/redis-server.js';
import { COMMAND_TIMEOUT_MS } from '../../adapters/redis-connection.js';

/**
 * README: every store call gives up after COMMAND_TIMEOUT_MS (2 s) while Redis is away, and a
 * request answers 503 within 2 s per store call it waits on in turn. The probes wait on one or
 * two (the management API finds the token, then its client): measured 1.0-2.03 s and 4.0 s. 1 s
 * more covers the rest of the request on a loaded machine; a third wait in a row fails.
 */
const NO_HANG_MS = 2 * COMMAND_TIMEOUT_MS + 1_000;

async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await call();
  return { value, ms: performance.now() - started };
}

/**
 * The IdP process on a Redis of its own with AOF on (and no RDB snapshots), which the test
 * stops and starts: what was written survives a restart, and while Redis is away the IdP
 * answers 503 quickly, stays up, and resumes by itself.
 */
describe('Redis restarts and outages', () => {
  let redis: OwnRedis;
  let idp: IdpProcess;
  let fx: Fixture;
  let rp: oidc.Configuration;
  let tp: ThirdParty;
  const ready = () => fetch(`${idp.url}/readyz`).then((r) => r.status === 200);

  beforeAll(async () => {
    redis = await startOwnRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
    idp = await startIdpProcess({ redisUrl: redis.url, prefix: uniquePrefix(), config: { scopes: BANK_SCOPES } });
    fx = await createFixture(idp);
    rp = await oidc.discovery(new URL(idp.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
    tp = await createThirdParty(idp, fx);
  });
  afterAll(async () => {
    await idp?.kill('SIGTERM');
    await redis?.destroy();
  });

  async function signIn(browser: Browser, params: Record<string, string>) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, state: 'st', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    });
    const callback = await browser.login(url.href, idp.url, fx.user.email, fx.user.password);
    return { callback, verifier };
  }

  it('keeps users, consents, browser and backend sessions and refresh tokens across a restart', async () => {
    const browser = new Browser();
    const first = await signIn(browser, { scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await oidc.authorizationCodeGrant(rp, first.callback, { pkceCodeVerifier: first.verifier, expectedState: 'st' });
    expect(tokens.refresh_token).toBeTruthy();

    const consentBrowser = new Browser();
    const asked = await authorize(idp, fx, tp, consentBrowser, { scope: 'openid balance' });
    expect(asked.url.searchParams.get('src_interaction')).toBeTruthy();
    expect((await answer(idp, consentBrowser, asked.url, true)).searchParams.get('code')).toBeTruthy();

    const appToken = await clientCredentialsToken(idp.issuer, fx.client.client_id, fx.client.client_secret);
    const backendSession = await api(idp, 'POST', '/v1/auth/password/authenticate', { identifier: fx.user.email, password: fx.user.password }, appToken);
    expect(backendSession.status).toBe(200);

    await redis.stop();
    await redis.start();
    await until('the IdP reconnecting', ready);

    expect((await api(idp, 'GET', `/v1/users/${fx.user.user_id}`)).body).toMatchObject({ email: fx.user.email });
    expect((await api(idp, 'GET', `/v1/consents?user_id=${fx.user.user_id}`)).body.consents)
      .toEqual([expect.objectContaining({ client_id: tp.client_id, scopes: ['openid', 'balance'] })]);
    // the consent still holds: the third party gets its code without the consent page
    const again = await authorize(idp, fx, tp, new Browser(), { scope: 'openid balance' });
    expect(again.url.origin + again.url.pathname).toBe(THIRD_PARTY_REDIRECT);
    expect(again.url.searchParams.get('code')).toBeTruthy();
    // the refresh token still refreshes
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(fx.user.user_id);
    // the browser's IdP session still signs in silently
    const silent = await signIn(browser, { scope: 'openid', prompt: 'none' });
    expect(silent.callback.searchParams.get('code')).toBeTruthy();
    // the backend session still authenticates
    const resumed = await api(idp, 'POST', '/v1/auth/session/authenticate', { session_id: backendSession.body.session_id }, appToken);
    expect(resumed).toMatchObject({ status: 200, body: { session_id: backendSession.body.session_id } });
  });

  it('answers 503 to writes while Redis is full (noeviction), evicts nothing, and writes again once there is room', async () => {
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      // a memory limit well below what is used: Redis is full
      const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
      await admin.config('SET', 'maxmemory', String(Math.floor(used / 2)));
      const keys = await admin.dbsize();
      const write = await api(idp, 'POST', '/v1/applications', { name: 'Does not fit' });
      expect(write).toMatchObject({ status: 503, body: { message: 'Service temporarily unavailable', error_code: 503 } });
      const token = await fetch(`${idp.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
      });
      expect({ status: token.status, body: await token.json() }).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
      // reads still work, and nothing was evicted to make room
      expect((await api(idp, 'GET', `/v1/users/${fx.user.user_id}`)).status).toBe(200);
      expect(await admin.dbsize()).toBe(keys);

      await admin.config('SET', 'maxmemory', '0');
      expect((await api(idp, 'POST', '/v1/applications', { name: 'Fits again' })).status).toBe(201);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }
  });

  it('answers 503 quickly while Redis is down, stays up, and resumes by itself when Redis is back', async () => {
    const appToken = await clientCredentialsToken(idp.issuer, fx.client.client_id, fx.client.client_secret);
    const adminToken = await idp.adminToken();
    // a sign-in started before the outage: its page must say "try again", not "expired"
    const browser = new Browser();
    const started = await browser.follow(oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }).href, idp.url);
    expect(started.url).toMatch(/\/interaction\/[^/]+$/);
    await redis.stop();

    const probes = {
      readiness: () => fetch(`${idp.url}/readyz`),
      management: () => fetch(`${idp.url}/v1/users/${fx.user.user_id}`, { headers: { authorization: `Bearer ${adminToken}` } }),
      token: () => fetch(`${idp.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
      }),
      backendAuth: () => fetch(`${idp.url}/v1/auth/password/authenticate`, {
        method: 'POST', headers: { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ identifier: fx.user.email, password: fx.user.password }),
      }),
      loginPage: () => fetch(`${idp.issuer}/auth?client_id=${fx.client.client_id}&response_type=code&scope=openid`, { headers: { accept: 'text/html' } }),
      interactionPage: () => browser.request(started.url),
    };
    // right after the outage starts, and again once ioredis has backed off for a while
    for (const pause of [0, 3000]) {
      await new Promise((r) => setTimeout(r, pause));
      const answers = await Promise.all(Object.entries(probes).map(async ([name, probe]) => {
        const { value: response, ms } = await timed(probe);
        return { name, status: response.status, ms, type: response.headers.get('content-type'), body: await response.text() };
      }));
      for (const { name, status, ms, type, body } of answers) {
        expect({ name, status, ms: ms < NO_HANG_MS ? `under ${NO_HANG_MS}` : ms }).toEqual({ name, status: 503, ms: `under ${NO_HANG_MS}` });
        if (!name.endsWith('Page')) expect(type).toMatch(/^application\/json/);
        expect(body).not.toMatch(/\n\s+at |node_modules/);
      }
      expect(JSON.parse(answers.find((a) => a.name === 'management')!.body)).toEqual({ message: 'Service temporarily unavailable', error_code: 503 });
      expect(JSON.parse(answers.find((a) => a.name === 'token')!.body)).toMatchObject({ error: 'temporarily_unavailable' });
    }
    expect(idp.alive()).toBe(true);
    expect((await fetch(`${idp.url}/healthz`)).status).toBe(200);

    await redis.start();
    expect(await until('the IdP reconnecting', ready, 5000)).toBeLessThan(5000);
    // AOF kept the interaction: the same sign-in page works again
    const resumed = await browser.request(started.url);
    expect({ status: resumed.status, form: /name="csrf"/.test(await resumed.text()) }).toEqual({ status: 200, form: true });
    expect((await api(idp, 'GET', `/v1/users/${fx.user.user_id}`)).status).toBe(200);
    const { callback, verifier } = await signIn(new Browser(), { scope: 'openid' });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: 'st' });
    expect(tokens.claims()!.sub).toBe(fx.user.user_id);
    expect(idp.alive()).toBe(true);
  });
});
