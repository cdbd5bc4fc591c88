import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';

/** The hosted login page over HTTP: what it says, what it refuses. */
describe('hosted login page', () => {
  let t: TestIdp;
  let fx: Fixture;
  beforeAll(async () => {
    t = await startIdp({ store: 'memory' });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  async function openLogin(extra: Record<string, string> = {}) {
    const browser = new Browser();
    const url = new URL(`${t.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: fx.client.client_id, response_type: 'code', redirect_uri: fx.redirectUri, scope: 'openid', state: 'st',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', ...extra,
    }).toString();
    const page = await browser.follow(url.href, t.url);
    const html = await page.response.text();
    return {
      browser, page, html,
      action: new URL(/action="([^"]+)"/.exec(html)![1]!, t.url).href,
      csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]!,
    };
  }

  const post = (browser: Browser, action: string, form: Record<string, string>) => browser.request(action, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString(),
  });

  it('is a plain, script-free, unframeable page', async () => {
    const { page, html } = await openLogin();
    expect(page.response.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    expect(page.response.headers.get('x-frame-options')).toBe('DENY');
    expect(page.response.headers.get('cache-control')).toBe('no-store');
    expect(html).not.toContain('<script');
    expect(html).toContain('<label for="identifier">');
    expect(html).toContain('Test web');
  });

  it('prefills login_hint and follows ui_locales', async () => {
    const { html } = await openLogin({ login_hint: 'someone@example.com"><b>', ui_locales: 'fr en' });
    expect(html).toContain('value="someone@example.com&quot;&gt;&lt;b&gt;"');
    expect(html).toContain('<html lang="en">');
  });

  it('says the same thing for an unknown identifier and a wrong password', async () => {
    const first = await openLogin();
    const unknown = await post(first.browser, first.action, { csrf: first.csrf, identifier: 'nobody@example.com', password: 'whatever1' });
    const second = await openLogin();
    const wrong = await post(second.browser, second.action, { csrf: second.csrf, identifier: fx.user.email, password: 'wrong-password' });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    const message = (html: string) => /role="alert"[^>]*>([^<]+)</.exec(html)?.[1];
    expect(message(await unknown.text())).toBe('The identifier or password is incorrect.');
    expect(message(await wrong.text())).toBe('The identifier or password is incorrect.');
  });

  it('refuses a post without the CSRF token, and one without the interaction cookie', async () => {
    const { browser, action, csrf } = await openLogin();
    expect((await post(browser, action, { identifier: fx.user.email, password: fx.user.password })).status).toBe(403);
    const stranger = new Browser();
    expect((await post(stranger, action, { csrf, identifier: fx.user.email, password: fx.user.password })).status).toBe(400);
  });

  it('returns access_denied with the state when the user cancels', async () => {
    const { browser, html } = await openLogin();
    const abort = new URL(/href="([^"]+\/abort)"/.exec(html)![1]!, t.url).href;
    const done = await browser.follow(abort, t.url);
    const callback = new URL(done.url);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe('st');
  });

  it('never sends the user to an unregistered redirect URI', async () => {
    const res = await fetch(`${t.issuer}/auth?${new URLSearchParams({
      client_id: fx.client.client_id, response_type: 'code', redirect_uri: 'http://localhost:8080/callback/../evil', scope: 'openid',
    })}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});
