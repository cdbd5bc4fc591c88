import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, type Fixture, type StoreKind, type TestIdp } from '../support/idp.js';
import { answer, authorize, BANK_SCOPES, CONSENT_URI, createThirdParty, introspect, redeem, type ThirdParty } from '../support/consent.js';
import { Gate, holdingStore } from '../support/held-store.js';

/**
 * Issue 13, the class of finding 1 in consents: an approval or the expiry sweep in flight
 * never writes back the consent it read over a revocation. Each race is forced: the slow
 * side's read of the consent record is held until the revocation has been answered.
 */
describe.each<StoreKind>(['memory', 'redis'])('consent records under concurrent changes (%s store)', (kind) => {
  let t: TestIdp;
  let fx: Fixture;
  let tp: ThirdParty;
  const gated: { key?: string; gate?: Gate } = {};
  /** the gate that finding this Grant waits at, while armed */
  const grantGated: { id?: string; gate?: Gate } = {};

  beforeAll(async () => {
    t = await startIdp({
      store: kind,
      overrides: { scopes: BANK_SCOPES },
      wrapStore: (store) => holdingStore(store, {
        read: (key) => (key === gated.key ? gated.gate : undefined),
        find: (model, id) => (model === 'Grant' && id === grantGated.id ? grantGated.gate : undefined),
      }),
    });
    fx = await createFixture(t, { scopes: ['openid', 'email', 'offline_access'] });
    tp = await createThirdParty(t, fx);
  });
  afterAll(() => t.close());

  function holdNextReadOf(key: string): Gate {
    gated.gate = new Gate(1);
    gated.key = key;
    return gated.gate;
  }

  /** The fixture user's consent to the third party (asked again each time), with the tokens of that authorization. */
  async function approve(scope: string, browser = new Browser()) {
    const asked = await authorize(t, fx, tp, browser, { scope, prompt: 'consent' });
    return { asked, browser };
  }
  const consentsOfUser = async () => (await api(t, 'GET', `/v1/consents?user_id=${fx.user.user_id}&client_id=${tp.client_id}`)).body.consents as Array<{ consent_id: string; scopes: string[]; expires_at: number }>;

  it('keeps a consent revoked while an approval that read it was in flight revoked', async () => {
    const first = await approve('openid balance');
    const firstTokens = await redeem(tp, first.asked, await answer(t, first.browser, first.asked.url, true));
    const [revoked] = await consentsOfUser();
    expect(revoked).toMatchObject({ scopes: ['openid', 'balance'] });

    // another browser asks for more; its approval reads the consent, and the admin revokes it meanwhile
    const second = await approve('openid transactions');
    const gate = holdNextReadOf(`consent:${revoked!.consent_id}`);
    const approval = answer(t, second.browser, second.asked.url, true);
    await gate.full;
    expect((await api(t, 'DELETE', `/v1/consents/${revoked!.consent_id}`)).status).toBe(204);
    gate.open();
    const landed = await approval;
    expect(await api(t, 'GET', `/v1/consents/${revoked!.consent_id}`)).toMatchObject({ status: 404, body: { message: 'Consent not found' } });
    expect(await introspect(t, fx, firstTokens.access_token)).toEqual({ active: false });
    // the approval after the revocation is a consent of its own, to what it approved (not
    // what was revoked), with a Grant of its own (the browser's went with the revoked consent)
    const [renewed, ...others] = await consentsOfUser();
    expect(others).toEqual([]);
    expect(renewed).toMatchObject({ scopes: ['openid', 'transactions'] });
    expect(renewed!.consent_id).not.toBe(revoked!.consent_id);
    const secondTokens = await redeem(tp, second.asked, landed);
    expect(await introspect(t, fx, secondTokens.access_token)).toMatchObject({ active: true, scope: 'openid transactions' });
    await api(t, 'DELETE', `/v1/consents/${renewed!.consent_id}`);
  });

  it('lets a revocation win over an expiry sweep that found the consent renewed', async () => {
    const { asked, browser } = await approve('openid balance');
    const tokens = await redeem(tp, asked, await answer(t, browser, asked.url, true));
    const [consent] = await consentsOfUser();
    // a schedule entry older than the record: as left by a renewal whose new expiry is not scheduled yet
    await t.idp.store.schedule('consent-expiry', consent!.consent_id, consent!.expires_at - 100);
    const gate = holdNextReadOf(`consent:${consent!.consent_id}`);
    const sweep = t.idp.consents.sweepExpired(consent!.expires_at - 50);
    await gate.full;
    expect((await api(t, 'DELETE', `/v1/consents/${consent!.consent_id}`)).status).toBe(204);
    gate.open();
    expect(await sweep).toBe(0);
    expect(await api(t, 'GET', `/v1/consents/${consent!.consent_id}`)).toMatchObject({ status: 404, body: { message: 'Consent not found' } });
    expect(await introspect(t, fx, tokens.access_token)).toEqual({ active: false });
  });

  it('never lets a session Grant of a consent revoked during a sign-in come back (SSO)', async () => {
    const browser = new Browser();
    const first = await authorize(t, fx, tp, browser, { scope: 'openid balance', prompt: 'consent' });
    const tokens = await redeem(tp, first, await answer(t, browser, first.url, true));
    expect(await introspect(t, fx, tokens.access_token)).toMatchObject({ active: true });
    const [consent] = await consentsOfUser();
    // the same browser signs in to the third party again: its Grant is found, and the consent revoked meanwhile
    grantGated.gate = new Gate(1);
    grantGated.id = (await t.idp.provider.AccessToken.find(tokens.access_token))!.grantId;
    expect(grantGated.id).toEqual(expect.any(String));
    const again = authorize(t, fx, tp, browser, { scope: 'openid balance' });
    await grantGated.gate.full;
    expect((await api(t, 'DELETE', `/v1/consents/${consent!.consent_id}`)).status).toBe(204);
    grantGated.gate.open();
    const landed = (await again).url;
    // no code from the revoked consent's Grant: the user is asked again, with nothing granted
    expect(`${landed.origin}${landed.pathname}`).toBe(CONSENT_URI);
    expect(landed.searchParams.getAll('granted_scope')).toEqual([]);
    expect(await t.idp.provider.Grant.find(grantGated.id!)).toBeUndefined();
  });

  it('never lets an approval bring back the session Grant of a consent revoked while it was applied', async () => {
    const first = await approve('openid balance');
    const firstTokens = await redeem(tp, first.asked, await answer(t, first.browser, first.asked.url, true));
    const firstGrant = (await t.idp.provider.AccessToken.find(firstTokens.access_token))!.grantId;
    const [revoked] = await consentsOfUser();
    // another browser asks for more; signing in gave it a Grant of its own under the consent
    const second = await approve('openid transactions');
    const grants = await t.idp.store.setMembers(`consent-grants:${revoked!.consent_id}`);
    const secondGrant = grants.filter((id) => id !== firstGrant);
    expect(secondGrant).toHaveLength(1);
    // the approval loads that Grant to add what was approved; the admin revokes the consent meanwhile
    grantGated.gate = new Gate(1);
    grantGated.id = secondGrant[0];
    const approval = answer(t, second.browser, second.asked.url, true);
    await grantGated.gate.full;
    expect((await api(t, 'DELETE', `/v1/consents/${revoked!.consent_id}`)).status).toBe(204);
    grantGated.gate.open();
    // the revocation took the consent this approval had just added to: it wins
    const landed = await approval;
    expect(Object.fromEntries(landed.searchParams)).toMatchObject({
      error: 'access_denied', error_description: 'The consent was revoked while it was being given',
    });
    expect(await t.idp.provider.Grant.find(grantGated.id!)).toBeUndefined();
    expect(await consentsOfUser()).toEqual([]);
    // and the session holds nothing of it: asking for the revoked scope asks the user again
    const more = await authorize(t, fx, tp, second.browser, { scope: 'openid balance' });
    expect(`${more.url.origin}${more.url.pathname}`).toBe(CONSENT_URI);
    expect(more.url.searchParams.getAll('granted_scope')).toEqual([]);
  });
});
