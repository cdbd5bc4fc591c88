import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, loopbackOnlyPage } from '../support/chromium.js';
import { startRelyingParty } from '../support/rp.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { BANK_SCOPES, introspect } from '../support/consent.js';
import { freePort } from '../support/global-setup.js';
import { consentPageApp } from '../../examples/consent-page/server.js';

/**
 * Seed 000 in a real browser: a third-party RP (openid-client) → hosted login → the bank's
 * example consent page → callback → code at the RP → tokens the bank can validate.
 */
describe('third-party consent in Chromium', () => {
  let t: TestIdp;
  let fx: Fixture;
  let browser: Browser;
  let consentPage: Server;
  let rp: Awaited<ReturnType<typeof startRelyingParty>>;
  let thirdPartyId: string;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis', overrides: { scopes: BANK_SCOPES } });
    fx = await createFixture(t);
    const consentPort = await freePort();
    consentPage = consentPageApp(t.url).listen(consentPort, '127.0.0.1');
    const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
      name: 'Budget app', third_party: true, consent_uris: [`http://127.0.0.1:${consentPort}/consent`],
      redirect_uris: ['http://127.0.0.1:1/callback'], scopes: ['openid', 'balance', 'transactions'],
    });
    thirdPartyId = created.body.client_id;
    // every run asks (prompt=consent), so approval and decline can follow each other
    rp = await startRelyingParty(t.issuer, thirdPartyId, created.body.client_secret, 'openid balance transactions', { prompt: 'consent' });
    await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${thirdPartyId}`, { redirect_uris: [rp.redirectUri] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.close();
    consentPage?.closeAllConnections();
    await new Promise((resolve) => consentPage?.close(resolve));
    await t?.close();
  });

  async function toConsentPage(page: Page, signIn: boolean) {
    await page.goto(`${rp.url}/login`);
    if (signIn) {
      await page.getByLabel('Email, phone or username').fill(fx.user.email);
      await page.getByLabel('Password').fill(fx.user.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await page.waitForURL((url) => url.pathname === '/consent');
    await expect(page.title()).resolves.toBe('Allow access?');
  }

  it('approves on the consent page; the RP gets tokens for the third party with the consented scopes', async () => {
    const page = await loopbackOnlyPage(browser);
    await toConsentPage(page, true);
    await expect(page.getByRole('heading').textContent()).resolves.toBe('Budget app wants to access your bank account');
    await expect(page.locator('#requested li').allTextContents()).resolves.toEqual([
      'Know who you are at the bank', 'See your account balance', 'See your transactions',
    ]);
    await page.getByRole('button', { name: 'Allow', exact: true }).click();

    await page.waitForURL(`${rp.url}/callback**`);
    await expect(page.locator('#result').textContent()).resolves.toBe(`signed in as ${fx.user.user_id}`);
    const claims = JSON.parse((await page.locator('#claims').textContent())!);
    expect(claims).toMatchObject({ iss: t.issuer, aud: thirdPartyId, sub: fx.user.user_id });
    const tokens = rp.received.at(-1)!;
    expect(tokens.scope).toBe('openid balance transactions');
    expect(await introspect(t, fx, tokens.access_token)).toMatchObject({
      active: true, client_id: thirdPartyId, scope: 'openid balance transactions',
    });
  });

  it('declines on the consent page; the RP gets access_denied and no token', async () => {
    const page = await loopbackOnlyPage(browser);
    const before = rp.received.length;
    await toConsentPage(page, true);
    // the consent given in the first test is shown as context
    await expect(page.locator('#granted li').count()).resolves.toBe(3);
    await page.getByRole('button', { name: "Don't allow" }).click();

    await page.waitForURL(`${rp.url}/callback**`);
    await expect(page.locator('#result').textContent()).resolves.toBe('error: access_denied');
    await expect(page.locator('#description').textContent()).resolves.toBe('User denied consent to requested scope');
    expect(rp.received.length).toBe(before);
  });

  it('completes when a consent page navigates the browser to the callback itself', async () => {
    const page = await loopbackOnlyPage(browser);
    await toConsentPage(page, true);
    const handle = new URL(page.url()).searchParams.get('src_interaction')!;
    await page.goto(`${t.url}/cis/auth/consent/callback?src_interaction=${handle}&approved=true`);
    await page.waitForURL(`${rp.url}/callback**`);
    await expect(page.locator('#result').textContent()).resolves.toBe(`signed in as ${fx.user.user_id}`);
  });

  it('completes when a consent page calls the callback with fetch from the browser (seed sample)', async () => {
    // a consent page whose CSP allows scripts: the example's does not run any
    const page = await loopbackOnlyPage(browser, { bypassCSP: true });
    await toConsentPage(page, true);
    const handle = new URL(page.url()).searchParams.get('src_interaction')!;
    const answer = await page.evaluate(async ([idp, srcInteraction]) => {
      const query = new URLSearchParams({ src_interaction: srcInteraction!, approved: 'false' }).toString();
      const resp = await fetch(`${idp}/cis/auth/consent/callback?${query}`, { method: 'GET' });
      const data = await resp.text();
      window.location.assign(JSON.parse(data).redirect_to);
      return data;
    }, [t.url, handle]);
    expect(JSON.parse(answer)).toEqual({ redirect_to: expect.stringContaining('/interaction/') });
    await page.waitForURL(`${rp.url}/callback**`);
    await expect(page.locator('#result').textContent()).resolves.toBe('error: access_denied');
  });

  it('refuses a replayed answer from the consent page', async () => {
    const page = await loopbackOnlyPage(browser);
    await toConsentPage(page, true);
    const consentUrl = page.url();
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.waitForURL(`${rp.url}/callback**`);

    // back to the same consent page, answered again
    await page.goto(consentUrl);
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('src_interaction is unknown, expired or already used');
  });
});
