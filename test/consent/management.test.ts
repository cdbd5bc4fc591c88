import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { userToken } from '../support/sign-in.js';
import { api, clientCredentialsToken, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import {
  answer, authorize, BANK_SCOPES, createThirdParty, insecure, introspect, redeem, type ThirdParty,
} from '../support/consent.js';
import { refusalOf } from '../support/refusals.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Consents after they are given: listing, revocation, self-service, expiry, receipts. */
describe.each(['redis', 'memory'] as const)('consent management (%s store)', (kind) => {
  let t: TestIdp;
  let fx: Fixture;
  let tp: ThirdParty;

  beforeAll(async () => {
    t = await startIdp({ store: kind, overrides: { scopes: BANK_SCOPES } });
    fx = await createFixture(t, { scopes: ['openid', 'email', 'offline_access'] });
    tp = await createThirdParty(t, fx);
  });
  afterAll(() => t.close());

  async function newUser(): Promise<Fixture> {
    const email = `u-${randomBytes(4).toString('hex')}@example.com`;
    const created = await api(t, 'POST', '/v1/users', { email, password: fx.user.password });
    return { ...fx, user: { user_id: created.body.user_id, email, password: fx.user.password } };
  }

  /** The user consents to the third party (with a refresh token) and gets its tokens. */
  async function consented(user: Fixture, thirdParty = tp) {
    const browser = new Browser();
    const asked = await authorize(t, user, thirdParty, browser, { scope: 'openid balance offline_access', prompt: 'consent' });
    const tokens = await redeem(thirdParty, asked, await answer(t, browser, asked.url, true));
    const [consent] = (await api(t, 'GET', `/v1/consents?user_id=${user.user.user_id}&client_id=${thirdParty.client_id}`)).body.consents;
    return { tokens, consent, browser };
  }

  it('lists, filters and reads consents', async () => {
    const user = await newUser();
    const { consent } = await consented(user);
    expect(consent).toEqual({
      consent_id: expect.stringMatching(/^[0-9a-f-]{36}$/), user_id: user.user.user_id, client_id: tp.client_id,
      scopes: ['openid', 'balance', 'offline_access'], granted_at: expect.any(Number), expires_at: consent.granted_at + 30 * 86_400,
    });
    expect((await api(t, 'GET', `/v1/consents/${consent.consent_id}`)).body).toEqual(consent);
    expect((await api(t, 'GET', `/v1/consents?client_id=${tp.client_id}`)).body.consents).toContainEqual(consent);
    expect((await api(t, 'GET', '/v1/consents')).body.consents).toContainEqual(consent);
    expect((await api(t, 'GET', `/v1/consents?user_id=${user.user.user_id}&client_id=other`)).body.consents).toEqual([]);
    expect((await api(t, 'GET', '/v1/consents?user_id=a&user_id=b')).status).toBe(400);
    expect((await api(t, 'GET', '/v1/consents/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await api(t, 'GET', '/v1/consents/not-an-id')).status).toBe(404);
  });

  it('revokes a consent: its access and refresh tokens stop working at once, and the user is asked again', async () => {
    const user = await newUser();
    const { tokens, consent, browser } = await consented(user);
    expect(await introspect(t, fx, tokens.access_token)).toMatchObject({ active: true });

    expect((await api(t, 'DELETE', `/v1/consents/${consent.consent_id}`)).status).toBe(204);
    expect(await introspect(t, fx, tokens.access_token)).toEqual({ active: false });
    expect(await introspect(t, fx, tokens.refresh_token!)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(tp.rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await refusalOf(oidc.fetchUserInfo(tp.rp, tokens.access_token, user.user.user_id))).toEqual({ status: 401, error: 'invalid_token', error_description: 'invalid token provided', code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE', message: 'server responded with a challenge in the WWW-Authenticate HTTP Header' });
    expect((await api(t, 'GET', `/v1/consents/${consent.consent_id}`)).status).toBe(404);
    expect((await api(t, 'DELETE', `/v1/consents/${consent.consent_id}`)).status).toBe(404);

    // the IdP session is still there, the consent is not: back to the Consent URI
    const again = await authorize(t, user, tp, browser, { scope: 'openid balance' });
    expect(again.url.searchParams.getAll('requested_scope')).toEqual(['openid', 'balance']);

    const receipts = (await api(t, 'GET', `/v1/consent-receipts?user_id=${user.user.user_id}&client_id=${tp.client_id}`)).body.receipts;
    expect(receipts.map((r: { event: string }) => r.event)).toEqual(['granted', 'revoked']);
    expect(receipts[1]).toMatchObject({
      consent_id: consent.consent_id, scopes: ['openid', 'balance', 'offline_access'], actor: { type: 'admin', id: 'test-admin-client' },
    });
  });

  it('lets users list and withdraw their own consents with their own token', async () => {
    const user = await newUser();
    const other = await newUser();
    const { tokens, consent } = await consented(user);
    const { consent: othersConsent } = await consented(other);
    const mine = await userToken(t, fx, user.user);

    const listed = await api(t, 'GET', '/v1/me/consents', undefined, mine);
    expect(listed).toMatchObject({ status: 200, body: { consents: [consent] } });
    // somebody else's consent is as unknown as a missing one
    expect((await api(t, 'DELETE', `/v1/me/consents/${othersConsent.consent_id}`, undefined, mine)).status).toBe(404);
    expect((await api(t, 'GET', `/v1/consents/${othersConsent.consent_id}`)).status).toBe(200);

    // neither the third party's token nor a client token may manage consents
    expect((await api(t, 'GET', '/v1/me/consents', undefined, tokens.access_token)).status).toBe(403);
    expect((await api(t, 'GET', '/v1/me/consents', undefined, await t.adminToken())).status).toBe(401);
    expect((await api(t, 'GET', '/v1/me/consents', undefined, 'nope')).status).toBe(401);

    expect((await api(t, 'DELETE', `/v1/me/consents/${consent.consent_id}`, undefined, mine)).status).toBe(204);
    expect(await introspect(t, fx, tokens.access_token)).toEqual({ active: false });
    expect((await api(t, 'GET', '/v1/me/consents', undefined, mine)).body.consents).toEqual([]);
    const receipts = (await api(t, 'GET', `/v1/consent-receipts?user_id=${user.user.user_id}`)).body.receipts;
    expect(receipts.at(-1)).toMatchObject({ event: 'revoked', actor: { type: 'user', id: user.user.user_id } });
  });

  it('expires consents after their validity period, with a receipt, and asks again', async () => {
    const shortLived = await createThirdParty(t, fx, { name: 'Short-lived app', consent_ttl: 2 });
    const user = await newUser();
    const { tokens, consent, browser } = await consented(user, shortLived);
    expect(consent.expires_at - consent.granted_at).toBe(2);

    await sleep(2_100);
    expect(await introspect(t, fx, tokens.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(shortLived.rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await api(t, 'GET', `/v1/consents?user_id=${user.user.user_id}`)).body.consents).toEqual([]);
    const again = await authorize(t, user, shortLived, browser, { scope: 'openid balance' });
    expect(again.url.searchParams.getAll('requested_scope')).toEqual(['openid', 'balance']);
    expect(again.url.searchParams.getAll('granted_scope')).toEqual([]);

    expect(await t.idp.consents.sweepExpired()).toBeGreaterThanOrEqual(1);
    const receipts = (await api(t, 'GET', `/v1/consent-receipts?client_id=${shortLived.client_id}`)).body.receipts;
    expect(receipts.map((r: { event: string }) => r.event)).toEqual(['granted', 'expired']);
    expect(receipts[1]).toMatchObject({ consent_id: consent.consent_id, at: consent.expires_at, actor: { type: 'system' } });
    // swept once: a second sweep finds nothing of it
    await t.idp.consents.sweepExpired();
    expect((await api(t, 'GET', `/v1/consent-receipts?client_id=${shortLived.client_id}`)).body.receipts).toHaveLength(2);
  });

  it('revokes the consents of a deleted user and of a deleted client', async () => {
    const user = await newUser();
    const { tokens } = await consented(user);
    expect((await api(t, 'DELETE', `/v1/users/${user.user.user_id}`)).status).toBe(204);
    expect(await introspect(t, fx, tokens.access_token)).toEqual({ active: false });

    const doomed = await createThirdParty(t, fx, { name: 'Doomed app' });
    const second = await newUser();
    const { tokens: doomedTokens } = await consented(second, doomed);
    expect((await api(t, 'DELETE', `/v1/applications/${fx.appId}/clients/${doomed.client_id}`)).status).toBe(204);
    expect(await introspect(t, fx, doomedTokens.access_token)).toEqual({ active: false });
    expect((await api(t, 'GET', `/v1/consents?client_id=${doomed.client_id}`)).body.consents).toEqual([]);
  });

  it('keeps the consent APIs behind the admin role', async () => {
    const plain = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'no role', grant_types: ['client_credentials'], scopes: [] });
    const token = await clientCredentialsToken(t.issuer, plain.body.client_id, plain.body.client_secret);
    expect((await api(t, 'GET', '/v1/consents', undefined, token)).status).toBe(403);
    expect((await api(t, 'GET', '/v1/consent-receipts')).body).toEqual({ message: 'user_id or client_id is required', error_code: 400 });
  });
});
