import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { createFixture, startIdp, uniquePrefix, type Fixture, type TestIdp } from '../support/idp.js';
import { LOCK_SECONDS, WRONG_CODES_PER_IP, WRONG_CODES_PER_SESSION } from '../../lib/device/code-guessing.js';
import { DevicePages, deviceClient, pollOnce } from './support.js';

/** A code that is never issued (vowels are not in the alphabet) but has the right shape. */
const WRONG = 'AAAA-AAAA';

/** Guessing user codes (RFC 8628 5.1), on two instances of one deployment (one Redis). */
describe('user code guessing', () => {
  let a: TestIdp;
  let b: TestIdp;
  let fx: Fixture;
  let device: Awaited<ReturnType<typeof deviceClient>>;

  beforeAll(async () => {
    const prefix = uniquePrefix();
    a = await startIdp({ prefix });
    b = await startIdp({ prefix });
    fx = await createFixture(a);
    device = await deviceClient(a, fx);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it(`locks a browser session after ${WRONG_CODES_PER_SESSION} wrong codes, on every instance, without revealing right ones`, async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    const user = new DevicePages(a, '192.0.2.10');
    for (let i = 1; i < WRONG_CODES_PER_SESSION; i += 1) {
      const page = await user.enter(WRONG);
      expect(page.status).toBe(400);
      expect(page.html).toContain('That code is not valid');
    }
    const locked = await user.enter(WRONG);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(LOCK_SECONDS - 5);
    expect(locked.html).toContain('Too many incorrect codes');
    expect(locked.html).toContain('Try again in 15 minutes');

    // the right code now gets the same answer: no confirmation page, on this instance or the other,
    // and under any spelling of the path oidc-provider's router accepts
    for (const url of [`${a.issuer}/device`, `${a.issuer}/DEVICE/`, `${b.issuer}/device`]) {
      const answer = await user.enter(started.user_code, url);
      expect(answer.status).toBe(429);
      expect(answer.html).not.toContain('op.deviceConfirmForm');
    }
    expect(await pollOnce(device.rp, started.device_code)).toEqual({ error: 'authorization_pending' });

    // another person at another address is not affected
    const other = await new DevicePages(b, '192.0.2.11').enter(started.user_code);
    expect(other.status).toBe(200);
    expect(other.html).toContain('op.deviceConfirmForm');
  });

  it('lets no guesses sent at once slip past the count: a right code among them is refused like the rest', async () => {
    // each round: one wrong code short of the lock, then 29 wrong codes and the right one at once;
    // counted before it is checked, the right code gets through only as the one attempt left (1 in 30)
    let confirmed = 0;
    for (let round = 0; round < 5; round += 1) {
      const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
      const user = new DevicePages(a, `192.0.2.${40 + round}`);
      for (let i = 1; i < WRONG_CODES_PER_SESSION; i += 1) expect((await user.enter(WRONG)).status).toBe(400);
      const codes = Array.from({ length: 30 }, (_, i) => (i === 15 ? started.user_code : WRONG));
      const answers = await Promise.all(codes.map((code) => user.enter(code)));
      expect(answers.filter((answer) => answer.status === 429).length).toBeGreaterThanOrEqual(29);
      if (answers[15]!.html.includes('op.deviceConfirmForm')) confirmed += 1;
    }
    expect(confirmed).toBeLessThanOrEqual(2);
  });

  it(`locks an address after ${WRONG_CODES_PER_IP} wrong codes, whatever the browser sessions`, async () => {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid' });
    const address = '192.0.2.20';
    for (let session = 0; session < WRONG_CODES_PER_IP / WRONG_CODES_PER_SESSION; session += 1) {
      // a fresh browser session each time, alternating between the instances, and a made-up
      // address written in front of the one the proxy appends (only the proxy's entry counts)
      const guesser = new DevicePages(session % 2 ? b : a, `198.51.100.${session}, ${address}`);
      for (let i = 0; i < WRONG_CODES_PER_SESSION; i += 1) await guesser.enter(WRONG);
    }
    const fresh = await new DevicePages(a, address).enter(started.user_code);
    expect(fresh.status).toBe(429);
    expect(fresh.html).not.toContain('op.deviceConfirmForm');
  });
});
