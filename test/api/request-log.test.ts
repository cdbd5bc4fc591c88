import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { Browser } from '../support/browserless.js';
import { BANK_SCOPES, answer, authorize, createThirdParty, insecure, redeem } from '../support/consent.js';
import { DevicePages, deviceClient, pollOnce } from '../device/support.js';
import { createLogger } from '../../lib/logger.js';

/** Values of a URL that are not lowercase words: ids, uids, handles, codes, state. */
function secretsOf(url: string): string[] {
  const parsed = new URL(url);
  return [...parsed.pathname.split('/'), ...parsed.searchParams.values()].filter((part) => part.length >= 8 && !/^[a-z_.-]+$/.test(part));
}

/**
 * README: "one line per request with method, route template, status and duration; codes,
 * handles and tokens are never logged". A code flow, a third-party consent (and the
 * management API's view of its consent request) and a device flow, with every log line kept.
 */
describe('the request log', () => {
  const lines: string[] = [];
  let t: TestIdp;
  let fx: Fixture;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis', overrides: { scopes: BANK_SCOPES }, logger: createLogger('info', { write: (line: string) => { lines.push(line); } }) });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  it('names route templates and carries no code, token, handle, uid, user code or query string', async () => {
    const secrets = new Set<string>();
    const keep = (...values: Array<string | undefined>) => values.forEach((value) => { if (value) secrets.add(value); });
    // every URL the browsers open (interaction uids, the resume uid, code and state in redirects)
    const visiting: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      secretsOf(url).forEach((secret) => secrets.add(secret));
      const response = await fetch(input, init);
      const location = response.headers.get('location');
      if (location) secretsOf(new URL(location, url).href).forEach((secret) => secrets.add(secret));
      return response;
    };

    // first-party code flow: login page, resume, code, tokens
    const rp = await oidc.discovery(new URL(t.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const authUrl = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid offline_access', prompt: 'consent', state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await new Browser(visiting).login(authUrl.href, t.url, fx.user.email, fx.user.password);
    keep(callback.searchParams.get('code')!, state, verifier, nonce);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    keep(tokens.access_token, tokens.refresh_token, tokens.id_token);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    keep(refreshed.access_token, refreshed.refresh_token);

    // third-party consent: the consent request seen by the management API, the callback, the code
    const tp = await createThirdParty(t, fx);
    const browser = new Browser(visiting);
    const asked = await authorize(t, fx, tp, browser, { scope: 'openid balance' });
    const handle = asked.url.searchParams.get('src_interaction')!;
    keep(handle);
    expect((await api(t, 'GET', `/v1/consent-requests/${handle}`)).status).toBe(200);
    const redirected = await answer(t, browser, asked.url, true);
    keep(redirected.searchParams.get('code')!, asked.state, asked.verifier);
    const tpTokens = await redeem(tp, asked, redirected);
    keep(tpTokens.access_token, tpTokens.id_token);

    // device flow: user code typed on the page, device code polled
    const device = await deviceClient(t, fx);
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    keep(started.device_code, started.user_code);
    const done = await new DevicePages(t, '198.51.100.7').approve(started.user_code, fx.user);
    secretsOf(done.url).forEach((secret) => secrets.add(secret));
    const polled = await pollOnce(device.rp, started.device_code);
    keep(polled.tokens?.access_token);
    expect(polled.tokens?.access_token).toEqual(expect.any(String));

    expect(secrets.size).toBeGreaterThan(20);
    const log = lines.join('\n');
    expect([...secrets].filter((secret) => log.includes(secret))).toEqual([]);
    expect(log).not.toMatch(/\?|src_interaction|user_code=|code=/);
    const requests = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request');
    const routes = new Set(requests.map((entry) => entry.route));
    expect([...routes]).toEqual(expect.arrayContaining([
      '/v1/consent-requests/:srcInteraction', '/oidc/auth', '/oidc/auth/:uid', '/interaction/:uid', '/interaction/:uid/login',
      '/auth/consent/callback', '/oidc/token', '/oidc/device', '/oidc/device/auth',
    ]));
    for (const entry of requests) {
      expect(Object.keys(entry).sort()).toEqual(['level', 'method', 'ms', 'msg', 'route', 'service', 'status', 'time']);
      expect(String(entry.route)).toMatch(/^(?:\/(?:[a-z][a-z_.-]*|v\d|:[A-Za-z_]+|\.well-known))+$/);
    }
  });
});
