import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { ConsumeBarrier } from '../support/consume-barrier.js';
import { createFixture, startIdp, type Fixture, type StoreKind, type TestIdp } from '../support/idp.js';
import { DevicePages, deviceClient, pollOnce } from './support.js';

const PARALLEL = 10;

/**
 * A device code used twice is a reuse: oidc-provider revokes what it gave when the second
 * redemption comes after the first (helpers/grant_source.js). Redemptions racing each other
 * after the user approved (a device polling from two threads) must end the same way.
 */
describe.each<StoreKind>(['memory', 'redis'])('device code redeemed by concurrent polls (%s store)', (kind) => {
  let t: TestIdp;
  let fx: Fixture;
  let device: Awaited<ReturnType<typeof deviceClient>>;
  const barrier = new ConsumeBarrier('DeviceCode');

  beforeAll(async () => {
    t = await startIdp({ store: kind, wrapStore: (store) => barrier.wrap(store) });
    fx = await createFixture(t);
    device = await deviceClient(t, fx);
  });
  afterAll(() => t.close());

  it(`lets no tokens of ${PARALLEL} polls after approval survive: the reuse revokes the grant`, async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid offline_access' });
    expect((await new DevicePages(t, '198.51.100.7').approve(started.user_code, fx.user)).status).toBe(200);
    barrier.arm(PARALLEL);
    const answers = await Promise.all(Array.from({ length: PARALLEL }, () => pollOnce(device.rp, started.device_code)));
    const winners = answers.filter((a) => a.tokens);
    expect({ atMostOneWinner: winners.length <= 1, errors: answers.filter((a) => a.error).map((a) => a.error) })
      .toEqual({ atMostOneWinner: true, errors: Array(PARALLEL - winners.length).fill('invalid_grant') });
    // the losers revoke the grant: the winner either finds it gone (no tokens at all) or its tokens die
    const issued = winners[0]?.tokens;
    const outcome = issued
      ? {
        accessTokenActive: (await oidc.tokenIntrospection(device.rp, issued.access_token)).active,
        refresh: await oidc.refreshTokenGrant(device.rp, issued.refresh_token!).then(() => 'refreshed', (err: { error?: string }) => err.error),
      }
      : 'nothing issued';
    expect(['nothing issued', { accessTokenActive: false, refresh: 'invalid_grant' }]).toContainEqual(outcome);
  });
});
