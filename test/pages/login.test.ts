import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import {
  LOCK_SECONDS, WRONG_PASSWORDS_PER_ACCOUNT, WRONG_PASSWORDS_PER_IP, WRONG_PASSWORDS_PER_SOURCE,
} from '../../lib/users/password-guessing.js';

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

  describe('password guessing', () => {
    const alert = (html: string) => /role="alert"[^>]*>([^<]+)</.exec(html)?.[1];
    const PASSWORD = 'a long enough passphrase';
    async function newUser() {
      const email = `guess-${Math.random().toString(36).slice(2)}@example.com`;
      expect((await api(t, 'POST', '/v1/users', { email, email_verified: true, password: PASSWORD })).status).toBe(201);
      return email;
    }
    /** one login form, posted from any address (our proxy's X-Forwarded-For) */
    async function loginForm() {
      const { browser, action, csrf } = await openLogin();
      return (ip: string, identifier: string, password: string) => browser.request(action, {
        method: 'POST', body: new URLSearchParams({ csrf, identifier, password }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
      });
    }
    const times = (n: number) => Array.from({ length: n }, (_, i) => i);

    it(`locks an identifier at one address after ${WRONG_PASSWORDS_PER_SOURCE} wrong passwords, without checking the right one`, async () => {
      const email = await newUser();
      const login = await loginForm();
      for (const _ of times(WRONG_PASSWORDS_PER_SOURCE)) expect((await login('192.0.2.1', email, 'wrong password')).status).toBe(401);
      const locked = await login('192.0.2.1', email.toUpperCase(), 'wrong password');
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(LOCK_SECONDS - 5);
      expect(alert(await locked.text())).toBe('Too many wrong passwords. Try again in 15 minutes.');
      // the right password from that address is refused alike; from another address it signs in
      expect((await login('192.0.2.1', email, PASSWORD)).status).toBe(429);
      const elsewhere = await login('192.0.2.2', email, PASSWORD);
      expect(elsewhere.status).toBe(303);
      expect(elsewhere.headers.get('location')).toContain('/auth/');
    });

    it('starts the count again after the right password', async () => {
      const email = await newUser();
      const login = await loginForm();
      for (const _ of times(WRONG_PASSWORDS_PER_SOURCE - 1)) expect((await login('192.0.2.3', email, 'wrong password')).status).toBe(401);
      expect((await loginForm().then((again) => again('192.0.2.3', email, PASSWORD))).status).toBe(303);
      for (const _ of times(WRONG_PASSWORDS_PER_SOURCE)) expect((await login('192.0.2.3', email, 'wrong password')).status).toBe(401);
      expect((await login('192.0.2.3', email, 'wrong password')).status).toBe(429);
    });

    // guesses sent at once: each is counted before its password is checked, so none slip through
    it(`locks an account for everyone after ${WRONG_PASSWORDS_PER_ACCOUNT} wrong passwords from many addresses`, async () => {
      const email = await newUser();
      const login = await loginForm();
      const statuses = await Promise.all(times(WRONG_PASSWORDS_PER_ACCOUNT + 10).map((i) => login(`198.51.100.${i}`, email, 'wrong password').then((r) => r.status)));
      expect(statuses.filter((s) => s === 401)).toHaveLength(WRONG_PASSWORDS_PER_ACCOUNT);
      expect(statuses.filter((s) => s === 429)).toHaveLength(10);
      expect((await login('203.0.113.1', email, PASSWORD)).status).toBe(429);
    }, 90_000); // 100 scrypt checks: over 30 s on a loaded 2-core machine

    it(`locks an address after ${WRONG_PASSWORDS_PER_IP} wrong passwords for any identifiers, unknown ones too`, async () => {
      const email = await newUser();
      const login = await loginForm();
      const statuses = await Promise.all(times(WRONG_PASSWORDS_PER_IP + 1).map((i) => login('192.0.2.99', `nobody-${i}@example.com`, 'guess').then((r) => r.status)));
      expect(statuses.filter((s) => s === 401)).toHaveLength(WRONG_PASSWORDS_PER_IP);
      expect((await login('192.0.2.99', email, PASSWORD)).status).toBe(429);
      expect((await login('192.0.2.100', email, PASSWORD)).status).toBe(303);
    }, 90_000);
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
