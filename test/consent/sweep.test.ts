import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, uniquePrefix, type Fixture, type TestIdp } from '../support/idp.js';
import { answer, authorize, BANK_SCOPES, createThirdParty, type ThirdParty } from '../support/consent.js';
import { epochSeconds } from '../../lib/time.js';

/** How long a sweep leases an expired consent (lib/consents/service.ts SWEEP_LEASE). */
const LEASE_SECONDS = 300;

/**
 * The README's consent expiry sweep: every instance runs it on a timer, and a consent leased by
 * an instance that died is swept by another once the lease runs out. Two instances, one Redis.
 */
describe('consent expiry sweep (two instances, one Redis)', () => {
  let a: TestIdp;
  let b: TestIdp;
  let fx: Fixture;
  let shortLived: ThirdParty;

  beforeAll(async () => {
    const prefix = uniquePrefix();
    a = await startIdp({ store: 'redis', prefix, overrides: { scopes: BANK_SCOPES } });
    b = await startIdp({ store: 'redis', prefix, overrides: { scopes: BANK_SCOPES }, consentSweepIntervalMs: 250 });
    fx = await createFixture(a);
    shortLived = await createThirdParty(a, fx, { name: 'Short-lived app', consent_ttl: 3 });
  });
  afterAll(async () => {
    await b.close();
    await a.close().catch(() => undefined); // closed by the lease test already
  });

  /** A consent of the user for the third party (by default one that expires 3 seconds after it is given). */
  async function shortConsent(thirdParty = shortLived): Promise<{ consent_id: string; expires_at: number }> {
    const browser = new Browser();
    const asked = await authorize(a, fx, thirdParty, browser, { scope: 'openid balance', prompt: 'consent' });
    await answer(a, browser, asked.url, true);
    const consents = (await api(a, 'GET', `/v1/consents?user_id=${fx.user.user_id}&client_id=${thirdParty.client_id}`)).body.consents;
    expect(consents).toHaveLength(1);
    return consents[0];
  }
  const receiptsOf = async (thirdParty: ThirdParty, consentId: string) => ((await api(b, 'GET', `/v1/consent-receipts?client_id=${thirdParty.client_id}`)).body.receipts as Array<{ consent_id: string; event: string; at: number }>)
    .filter((r) => r.consent_id === consentId).map(({ event, at }) => ({ event, at }));

  it('runs on a timer: an expired consent gets its receipt without anyone asking', async () => {
    const consent = await shortConsent();
    let receipts = await receiptsOf(shortLived, consent.consent_id);
    for (let waited = 0; receipts.length < 2 && waited < 10_000; waited += 100) {
      await sleep(100);
      receipts = await receiptsOf(shortLived, consent.consent_id);
    }
    expect(receipts).toEqual([{ event: 'granted', at: expect.any(Number) }, { event: 'expired', at: consent.expires_at }]);
  });

  it('sweeps a consent leased by an instance that died, once the lease runs out, and only then', async () => {
    // a consent valid for a minute, swept "in the future" (sweepExpired's clock), so b's timer leaves it alone
    const longer = await createThirdParty(a, fx, { name: 'Minute app', consent_ttl: 60 });
    const consent = await shortConsent(longer);
    const due = consent.expires_at + 1;
    // a takes the lease, then dies before finishing: its store stops answering
    let leaseTaken!: () => void;
    const taken = new Promise<void>((resolve) => { leaseTaken = resolve; });
    a.idp.store.readJSON = (() => {
      leaseTaken();
      return new Promise(() => undefined);
    }) as typeof a.idp.store.readJSON;
    void a.idp.consents.sweepExpired(due);
    await taken;
    await a.close();

    expect(await b.idp.consents.sweepExpired(due)).toBe(0);
    expect(await b.idp.consents.sweepExpired(due + LEASE_SECONDS - 1)).toBe(0);
    expect(await receiptsOf(longer, consent.consent_id)).toEqual([{ event: 'granted', at: expect.any(Number) }]);
    expect(await b.idp.consents.sweepExpired(due + LEASE_SECONDS + 1)).toBe(1);
    expect(await receiptsOf(longer, consent.consent_id)).toEqual([{ event: 'granted', at: expect.any(Number) }, { event: 'expired', at: consent.expires_at }]);
  });
});
