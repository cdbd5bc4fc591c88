import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { insecure } from '../support/consent.js';
import { api, createFixture, uniquePrefix, type Fixture } from '../support/idp.js';
import { startIdpProcess, type IdpProcess } from '../support/idp-process.js';
import { startForwarder, type Forwarder } from './forwarder.js';

/**
 * Two server processes of one deployment behind one public URL (a load balancer), on the
 * suite's Redis. One is killed with SIGKILL while flows are half done; the other finishes them.
 */
describe('an instance killed with SIGKILL mid-flow', () => {
  let lb: Forwarder;
  let a: IdpProcess;
  let b: IdpProcess;
  let fx: Fixture;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    lb = await startForwarder();
    const prefix = uniquePrefix();
    [a, b] = await Promise.all([0, 1].map(() => startIdpProcess({ redisUrl: process.env.REDIS_URL!, prefix, publicUrl: lb.url })));
    lb.switchTo(a.direct);
    fx = await createFixture(a);
    rp = await oidc.discovery(new URL(a.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((p) => p?.kill('SIGKILL')));
    await lb?.close();
  });

  async function authorizationUrl(params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid email', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    });
    return { url, verifier, state };
  }

  it('loses nothing: the survivor finishes logins, redeems codes, refreshes tokens and serves what the dead one wrote', async () => {
    // 1. a login page served by a, not yet submitted
    const atLogin = await authorizationUrl();
    const loginBrowser = new Browser();
    const page = await loginBrowser.follow(atLogin.url.href, lb.url);
    const html = await page.response.text();
    const action = /action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;

    // 2. a code issued by a, not yet redeemed
    const withCode = await authorizationUrl();
    const codeCallback = await new Browser().login(withCode.url.href, lb.url, fx.user.email, fx.user.password);
    expect(codeCallback.searchParams.get('code')).toBeTruthy();

    // 3. tokens issued by a, with a refresh token
    const withTokens = await authorizationUrl({ scope: 'openid email offline_access', prompt: 'consent' });
    const tokensCallback = await new Browser().login(withTokens.url.href, lb.url, fx.user.email, fx.user.password);
    const issued = await oidc.authorizationCodeGrant(rp, tokensCallback, { pkceCodeVerifier: withTokens.verifier, expectedState: withTokens.state });
    expect(issued.refresh_token).toBeTruthy();

    // 4. a user created through a's management API
    const created = await api(a, 'POST', '/v1/users', { email: `after-kill-${Date.now()}@example.com`, password: 'a long passphrase' });
    expect(created.status).toBe(201);

    await a.kill('SIGKILL');
    expect(a.alive()).toBe(false);
    expect((await fetch(`${lb.url}/healthz`)).status).toBe(502); // the balancer still points at the dead one
    lb.switchTo(b.direct);

    const done = await loginBrowser.follow(new URL(action, page.url).href, lb.url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, identifier: fx.user.email, password: fx.user.password }).toString(),
    });
    const finished = await oidc.authorizationCodeGrant(rp, new URL(done.url), { pkceCodeVerifier: atLogin.verifier, expectedState: atLogin.state });
    expect(finished.claims()!.sub).toBe(fx.user.user_id);

    const redeemed = await oidc.authorizationCodeGrant(rp, codeCallback, { pkceCodeVerifier: withCode.verifier, expectedState: withCode.state });
    expect(redeemed.claims()!.sub).toBe(fx.user.user_id);

    // a's access token is still good on b, and its refresh token rotates there (b signs with the same keys)
    expect(await oidc.fetchUserInfo(rp, issued.access_token, fx.user.user_id)).toMatchObject({ email: fx.user.email });
    const refreshed = await oidc.refreshTokenGrant(rp, issued.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(fx.user.user_id);
    expect(refreshed.refresh_token).not.toBe(issued.refresh_token);

    expect((await api(b, 'GET', `/v1/users/${created.body.user_id}`)).body.email).toBe(created.body.email);
    expect(b.errorLogs()).toEqual([]);
  });
});
