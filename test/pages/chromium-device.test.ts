import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, loopbackOnlyPage } from '../support/chromium.js';
import { createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { deviceClient, expireDeviceCode, pollOnce } from '../device/support.js';
import { WRONG_CODES_PER_SESSION } from '../../lib/device/code-guessing.js';

/**
 * RFC 8628 with a person at a real browser: headless Chromium with JavaScript switched off
 * (the pages need none) on our device pages and hosted login; openid-client is the device.
 */
describe('device flow in Chromium', () => {
  let t: TestIdp;
  let fx: Fixture;
  let browser: Browser;
  let device: Awaited<ReturnType<typeof deviceClient>>;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
    device = await deviceClient(t, fx);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const newPage = () => loopbackOnlyPage(browser, { javaScriptEnabled: false });
  const start = () => oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid email offline_access' });

  /** Types a code into the entry page and sends it; the answer's HTTP status. */
  async function enterCode(page: Page, code: string): Promise<number> {
    await page.getByLabel('Code').fill(code);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);
    await page.waitForLoadState();
    return response.status();
  }

  it('enter the code, sign in, allow: the polling device gets tokens', async () => {
    const started = await start();
    const polling = oidc.pollDeviceAuthorizationGrant(device.rp, started);
    const page = await newPage();
    const entry = await page.goto(started.verification_uri);
    expect(entry!.headers()['content-security-policy']).toMatch(/^default-src 'none'; style-src 'nonce-/);
    await expect(page.title()).resolves.toBe('Connect a device');
    await expect(page.locator('script').count()).resolves.toBe(0);

    // typed as people do: lower case, no dash
    expect(await enterCode(page, started.user_code.toLowerCase().replace('-', ''))).toBe(200);
    await expect(page.getByRole('heading').textContent()).resolves.toBe('Connect Living-room TV?');
    await expect(page.locator('#confirm-code').textContent()).resolves.toBe(started.user_code);
    await expect(page.locator('#scopes li').allTextContents()).resolves.toEqual([
      'Know who you are', 'See your email address', 'Stay connected when you are not using it',
    ]);
    await page.getByRole('button', { name: 'Allow' }).click();

    await expect(page.title()).resolves.toBe('Sign in');
    await page.getByLabel('Email, phone or username').fill(fx.user.email);
    await page.getByLabel('Password').fill(fx.user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('heading').textContent()).resolves.toBe('Device connected');

    const tokens = await polling;
    expect(tokens.claims()).toMatchObject({ sub: fx.user.user_id, aud: device.clientId });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    await page.close();
  });

  it('opened from verification_uri_complete and cancelled: the device gets access_denied', async () => {
    const started = await start();
    const page = await newPage();
    await page.goto(started.verification_uri_complete!);
    await expect(page.getByLabel('Code').inputValue()).resolves.toBe(started.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.getByRole('heading').textContent()).resolves.toBe('Not connected');
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'access_denied' });
    await page.close();
  });

  it(`locks code entry after ${WRONG_CODES_PER_SESSION} wrong codes, even for the right one`, async () => {
    const started = await start();
    const page = await newPage();
    await page.goto(started.verification_uri);
    for (let i = 1; i < WRONG_CODES_PER_SESSION; i += 1) {
      expect(await enterCode(page, 'BBBB-BBBB')).toBe(400);
      await expect(page.getByRole('alert').textContent()).resolves.toBe('That code is not valid. Check the code shown on your device and try again.');
    }
    expect(await enterCode(page, 'BBBB-BBBB')).toBe(429);
    await expect(page.getByRole('heading').textContent()).resolves.toBe('Too many incorrect codes');

    await page.goto(started.verification_uri);
    expect(await enterCode(page, started.user_code)).toBe(429);
    await expect(page.getByRole('heading').textContent()).resolves.toBe('Too many incorrect codes');
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'authorization_pending' });
    await page.close();
  });

  it('tells the user when the code has expired', async () => {
    const started = await start();
    await expireDeviceCode(t, started.device_code);
    const page = await newPage();
    await page.goto(started.verification_uri);
    expect(await enterCode(page, started.user_code)).toBe(400);
    await expect(page.getByRole('alert').textContent()).resolves.toBe('That code has expired. Start again on your device to get a new code.');
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'expired_token' });
    await page.close();
  });
});
