import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import * as oidc from 'openid-client';
import { cibaLoginApp } from '../../examples/ciba-login/server.js';
import { Browser } from '../support/browserless.js';
import { freePort } from '../support/global-setup.js';
import { createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { cibaClient, newUser, oauthErrorOf, type TestUser } from './support.js';

/** examples/ciba-login as a CIBA client's login_uri: the link opens it, the user signs in and answers. */
describe('CIBA login example', () => {
  let t: TestIdp;
  let fx: Fixture;
  let example: Server;
  let exampleUrl: string;
  let callCenter: Awaited<ReturnType<typeof cibaClient>>;
  let user: TestUser;

  beforeAll(async () => {
    t = await startIdp();
    const port = await freePort();
    exampleUrl = `http://127.0.0.1:${port}`;
    // the example signs users in as the application's first-party web client
    fx = await createFixture(t, { redirect_uris: [`${exampleUrl}/ciba/callback`] });
    example = cibaLoginApp({ idpUrl: t.url, clientId: fx.client.client_id, clientSecret: fx.client.client_secret, baseUrl: exampleUrl })
      .listen(port, '127.0.0.1');
    callCenter = await cibaClient(t, fx, `${exampleUrl}/ciba`);
    user = await newUser(t);
  });
  afterAll(async () => {
    example.closeAllConnections();
    await new Promise((resolve) => example.close(resolve));
    await t.close();
  });

  /** Opens the auth link, signs in on the hosted login and answers on the example's page. */
  async function answer(link: string, who: TestUser, decision: 'approve' | 'decline') {
    const browser = new Browser();
    const start = await browser.navigate(link);
    const startHtml = await start.text();
    const callback = await browser.login(`${exampleUrl}/ciba/sign-in`, t.url, who.email, who.password);
    expect(callback.href.startsWith(`${exampleUrl}/ciba/callback?`)).toBe(true);
    const answerHtml = await (await browser.request(callback.href)).text();
    const result = await browser.request(`${exampleUrl}/ciba/answer`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `decision=${decision}`,
    });
    return { startHtml, answerHtml, result: { status: result.status, html: await result.text() } };
  }

  const initiate = () => oidc.initiateBackchannelAuthentication(callCenter.rp, {
    scope: 'openid', login_hint: user.email, binding_message: 'Desk-7',
    request_context: JSON.stringify({ channel: 'link', login_hint_type: 'email' }),
  }) as Promise<oidc.BackchannelAuthenticationResponse & { link: string }>;

  it('shows the binding message, signs the user in and approves: the client gets the user\'s tokens', async () => {
    const response = await initiate();
    const { startHtml, answerHtml, result } = await answer(response.link, user, 'approve');
    expect(startHtml).toContain('<strong id="binding-message">Desk-7</strong>');
    expect(answerHtml).toContain('<strong id="binding-message">Desk-7</strong>');
    expect(result).toMatchObject({ status: 200, html: expect.stringContaining('<h1>Done</h1>') });
    const tokens = await oidc.pollBackchannelAuthenticationGrant(callCenter.rp, { ...response, interval: 0 });
    expect(tokens.claims()).toMatchObject({ sub: user.user_id, amr: ['pwd'], acr: 'sfa' });
  });

  it('declines, and shows the IdP\'s refusal when another user signs in', async () => {
    const declined = await initiate();
    expect((await answer(declined.link, user, 'decline')).result.html).toContain('<h1>Access refused</h1>');
    expect(await oauthErrorOf(oidc.pollBackchannelAuthenticationGrant(callCenter.rp, { ...declined, interval: 0 })))
      .toMatchObject({ error: 'access_denied' });

    const other = await newUser(t);
    const { result } = await answer((await initiate()).link, other, 'approve');
    expect(result).toMatchObject({ status: 400, html: expect.stringContaining('Forbidden: this request is for another user') });
  });
});
