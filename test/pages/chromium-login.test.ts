import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { launchChromium, loopbackOnlyPage } from '../support/chromium.js';
import { startRelyingParty } from '../support/rp.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { freePort } from '../support/global-setup.js';

/** A person signing in: real Chromium, our hosted login, an openid-client RP, Redis behind. */
describe('hosted login in Chromium', () => {
  let t: TestIdp;
  let fx: Fixture;
  let browser: Browser;
  let rp: Awaited<ReturnType<typeof startRelyingParty>>;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
    const rpPort = await freePort();
    const client = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
      name: 'Chromium RP', redirect_uris: [`http://127.0.0.1:${rpPort}/callback`],
    });
    rp = await startRelyingParty(t.issuer, client.body.client_id, client.body.client_secret);
    // the RP picked its own port; register the one it got
    await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${client.body.client_id}`, { redirect_uris: [rp.redirectUri] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.close();
    await t?.close();
  });

  it('signs the user in and the RP receives verified tokens', async () => {
    const page = await loopbackOnlyPage(browser);
    await page.goto(`${rp.url}/login`);
    await expect(page.title()).resolves.toBe('Sign in');
    await page.getByLabel('Email, phone or username').fill(fx.user.email);
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('The identifier or password is incorrect.');
    await page.getByLabel('Password').fill(fx.user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${rp.url}/callback**`);
    await expect(page.locator('#result').textContent()).resolves.toBe(`signed in as ${fx.user.user_id}`);
    const claims = JSON.parse((await page.locator('#claims').textContent())!);
    expect(claims).toMatchObject({ iss: t.issuer, amr: ['pwd'] });

    // a second app sign-in rides the IdP session: no login page shown
    await page.goto(`${rp.url}/login`);
    await page.waitForURL(`${rp.url}/callback**`);
    await expect(page.locator('#result').textContent()).resolves.toBe(`signed in as ${fx.user.user_id}`);
  });
});
