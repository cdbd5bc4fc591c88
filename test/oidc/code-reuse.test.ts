import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { ConsumeBarrier } from '../support/consume-barrier.js';
import { insecure } from '../support/consent.js';
import { createFixture, startIdp, type Fixture, type StoreKind, type TestIdp } from '../support/idp.js';

const PARALLEL = 12;
const ROUNDS = 3;
const REUSED = { status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } };

/**
 * A code redeemed twice is a reuse (RFC 6749 4.1.2): oidc-provider revokes what the code gave
 * when it sees the second redemption after the first; redemptions racing each other must end
 * the same way, not leave the winner's tokens alive.
 */
describe.each<StoreKind>(['memory', 'redis'])('authorization code reuse (%s store)', (kind) => {
  let t: TestIdp;
  let fx: Fixture;
  let rp: oidc.Configuration;
  const barrier = new ConsumeBarrier('AuthorizationCode');

  beforeAll(async () => {
    t = await startIdp({ store: kind, wrapStore: (store) => barrier.wrap(store) });
    fx = await createFixture(t);
    rp = await oidc.discovery(new URL(t.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
  });
  afterAll(() => t.close());

  const post = async (path: string, params: Record<string, string>) => {
    const response = await fetch(`${t.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: fx.client.client_id, client_secret: fx.client.client_secret, ...params }),
    });
    return { status: response.status, body: await response.json() as Record<string, string> };
  };

  it.each([['all read the code before any consumes it', true], ['as they arrive', false]])(
    `${PARALLEL} concurrent redemptions of one code: one wins, and the reuse revokes what it got (%s)`,
    async (_how, tight) => {
      for (let round = 0; round < ROUNDS; round += 1) {
        const verifier = oidc.randomPKCECodeVerifier();
        const url = oidc.buildAuthorizationUrl(rp, {
          redirect_uri: fx.redirectUri, scope: 'openid offline_access', prompt: 'consent', state: 'st',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        });
        const code = (await new Browser().login(url.href, t.url, fx.user.email, fx.user.password)).searchParams.get('code')!;
        expect(code).toEqual(expect.any(String));
        if (tight) barrier.arm(PARALLEL);
        const answers = await Promise.all(Array.from({ length: PARALLEL }, () => post('/token', {
          grant_type: 'authorization_code', code, redirect_uri: fx.redirectUri, code_verifier: verifier,
        })));
        const [won, ...refused] = [...answers].sort((a, b) => a.status - b.status);
        expect(won!.status).toBe(200);
        expect(refused).toEqual(Array(PARALLEL - 1).fill(REUSED));
        expect((await post('/token/introspection', { token: won!.body.access_token! })).body.active).toBe(false);
        expect(await post('/token', { grant_type: 'refresh_token', refresh_token: won!.body.refresh_token! })).toEqual(REUSED);
      }
    },
  );

  it('a store failure while the code is consumed is no reuse: 503, and the code still redeems', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid', state: 'st',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const code = (await new Browser().login(url.href, t.url, fx.user.email, fx.user.password)).searchParams.get('code')!;
    const redeem = () => post('/token', { grant_type: 'authorization_code', code, redirect_uri: fx.redirectUri, code_verifier: verifier });
    barrier.failNext(new Error('Command timed out'));
    expect((await redeem()).status).toBe(503);
    const retried = await redeem();
    expect(retried.status).toBe(200);
    expect((await post('/token/introspection', { token: retried.body.access_token! })).body.active).toBe(true);
  });
});
