import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { ConsumeBarrier } from '../support/consume-barrier.js';
import { insecure } from '../support/consent.js';
import { api, createFixture, startIdp, type Fixture, type StoreKind, type TestIdp } from '../support/idp.js';

const PARALLEL = 12;
const ROUNDS = 4;

interface TokenAnswer { status: number; body: Record<string, string> }

/**
 * Refresh-token rotation with a reuse interval (issue 13, "Refresh-token rotation races with
 * real RPs"): parallel workers of one RP presenting the same refresh token keep the session
 * within the client's window; reuse outside it still revokes the family.
 */
describe.each<StoreKind>(['memory', 'redis'])('refresh-token rotation (%s store)', (kind) => {
  let t: TestIdp;
  let fx: Fixture;
  const barrier = new ConsumeBarrier('RefreshToken');

  beforeAll(async () => {
    t = await startIdp({ store: kind, wrapStore: (store) => barrier.wrap(store) });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  async function clientWith(settings: Record<string, unknown>) {
    const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Parallel RP', redirect_uris: [fx.redirectUri], ...settings });
    expect(created.status).toBe(201);
    return created.body as { client_id: string; client_secret: string };
  }

  /** Hosted sign-in with offline_access: the first refresh token of a new grant. */
  async function firstRefreshToken(client: { client_id: string; client_secret: string }): Promise<string> {
    const rp = await oidc.discovery(new URL(t.issuer), client.client_id, client.client_secret, undefined, insecure);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid offline_access', prompt: 'consent', state: 'st',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const landed = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
    const tokens = await oidc.authorizationCodeGrant(rp, landed, { pkceCodeVerifier: verifier, expectedState: 'st' });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    return tokens.refresh_token!;
  }

  async function tokenEndpoint(client: { client_id: string; client_secret: string }, path: string, params: Record<string, string>): Promise<TokenAnswer> {
    const response = await fetch(`${t.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: client.client_id, client_secret: client.client_secret, ...params }),
    });
    return { status: response.status, body: await response.json() as Record<string, string> };
  }

  const refresh = (client: { client_id: string; client_secret: string }, refreshToken: string) =>
    tokenEndpoint(client, '/token', { grant_type: 'refresh_token', refresh_token: refreshToken });
  const active = async (client: { client_id: string; client_secret: string }, token: string) =>
    (await tokenEndpoint(client, '/token/introspection', { token })).body.active;

  /** `PARALLEL` refreshes of one token, all in flight at once; `tight`: all read it before any consumes it. */
  async function parallelRefreshes(client: { client_id: string; client_secret: string }, refreshToken: string, tight: boolean) {
    if (tight) barrier.arm(PARALLEL);
    return Promise.all(Array.from({ length: PARALLEL }, () => refresh(client, refreshToken)));
  }

  it('accepts refresh_token_reuse_interval from 0 (the default) to 60 seconds', async () => {
    const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Default', redirect_uris: [fx.redirectUri] });
    expect(created).toMatchObject({ status: 201, body: { refresh_token_reuse_interval: 0 } });
    const over = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Long', redirect_uris: [fx.redirectUri], refresh_token_reuse_interval: 61 });
    expect(over).toMatchObject({ status: 400, body: { message: 'refresh_token_reuse_interval must be less than or equal to 60' } });
    const negative = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Neg', redirect_uris: [fx.redirectUri], refresh_token_reuse_interval: -1 });
    expect(negative).toMatchObject({ status: 400, body: { message: 'refresh_token_reuse_interval must be greater than or equal to 0' } });
  });

  it.each([['all read the token before any consumes it', true], ['as they arrive', false]])(
    `within the interval, ${PARALLEL} concurrent refreshes of one token all succeed with working siblings (%s), round after round`,
    async (_how, tight) => {
      const client = await clientWith({ refresh_token_reuse_interval: 30 });
      let current = await firstRefreshToken(client);
      for (let round = 0; round < ROUNDS; round += 1) {
        const answers = await parallelRefreshes(client, current, tight);
        expect(answers.map((a) => a.status)).toEqual(Array(PARALLEL).fill(200));
        const issued = answers.map((a) => a.body.refresh_token!);
        expect(new Set(issued).size).toBe(PARALLEL);
        expect(issued).not.toContain(current);
        // every access token works, and so does every refresh token issued (each once)
        expect(await Promise.all(answers.map((a) => active(client, a.body.access_token!)))).toEqual(Array(PARALLEL).fill(true));
        const next = await Promise.all(issued.map((token) => refresh(client, token)));
        expect(next.map((a) => a.status)).toEqual(Array(PARALLEL).fill(200));
        current = next[0]!.body.refresh_token!;
      }
    },
  );

  it('a late worker presenting the rotated token within the interval gets a sibling; the family lives on', async () => {
    const client = await clientWith({ refresh_token_reuse_interval: 30 });
    const first = await firstRefreshToken(client);
    const early = await refresh(client, first);
    const late = await refresh(client, first);
    expect([early.status, late.status]).toEqual([200, 200]);
    expect(late.body.refresh_token).not.toBe(early.body.refresh_token);
    expect((await refresh(client, early.body.refresh_token!)).status).toBe(200);
    expect((await refresh(client, late.body.refresh_token!)).status).toBe(200);
  });

  it('the interval applies to the refresh grant only: introspection sees the rotated token as used', async () => {
    const client = await clientWith({ refresh_token_reuse_interval: 30 });
    const first = await firstRefreshToken(client);
    const rotated = await refresh(client, first);
    expect(rotated.status).toBe(200);
    expect(await active(client, first)).toBe(false);
    expect(await active(client, rotated.body.refresh_token!)).toBe(true);
    // and the token still yields a sibling afterwards
    expect((await refresh(client, first)).status).toBe(200);
  });

  it('a store failure during the consume is no reuse: 503, and the token and its family live on', async () => {
    for (const interval of [0, 10]) {
      const client = await clientWith({ refresh_token_reuse_interval: interval });
      const token = await firstRefreshToken(client);
      barrier.failNext(new Error('Command timed out'));
      expect({ interval, ...await refresh(client, token) }).toMatchObject({ interval, status: 503 });
      const after = await refresh(client, token);
      expect({ interval, status: after.status }).toEqual({ interval, status: 200 });
      expect(await active(client, after.body.access_token!)).toBe(true);
    }
  });

  it('reuse after the interval answers invalid_grant and revokes the family', async () => {
    const client = await clientWith({ refresh_token_reuse_interval: 1 });
    const first = await firstRefreshToken(client);
    const rotated = await refresh(client, first);
    expect(rotated.status).toBe(200);
    await sleep(2100);
    expect(await refresh(client, first)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } });
    expect(await refresh(client, rotated.body.refresh_token!)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } });
    expect(await active(client, rotated.body.access_token!)).toBe(false);
  });

  it.each([['all read the token before any consumes it', true], ['as they arrive', false]])(
    `without an interval, ${PARALLEL} concurrent refreshes of one token: one wins, the others are reuses that revoke the family (%s)`,
    async (_how, tight) => {
      const client = await clientWith({ refresh_token_reuse_interval: 0 });
      for (let round = 0; round < ROUNDS; round += 1) {
        const answers = await parallelRefreshes(client, await firstRefreshToken(client), tight);
        // the first consume always wins; every other presenter is a reuse
        const [won, ...refused] = [...answers].sort((a, b) => a.status - b.status);
        expect(won!.status).toBe(200);
        expect(refused).toEqual(Array(PARALLEL - 1).fill({ status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } }));
        // the winner's tokens died with the family
        expect(await active(client, won!.body.access_token!)).toBe(false);
        expect(await refresh(client, won!.body.refresh_token!)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } });
      }
    },
  );
});

/** README: FAPI 2.0 refresh tokens are not rotated (its clients authenticate with keys, so a reuse is no sign of theft). */
describe('refresh tokens of a FAPI 2.0 client', () => {
  let t: TestIdp;
  let fx: Fixture;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  it('are not rotated: the same token refreshes again and again', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
      name: 'FAPI', redirect_uris: [fx.redirectUri], enforce_fapi2: true, token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...(await jose.exportJWK(publicKey)), alg: 'ES256', use: 'sig' }] }, require_par: true, token_binding: 'dpop', pkce: 'enforce_with_secret',
    });
    expect(created.status).toBe(201);
    const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, undefined, oidc.PrivateKeyJwt(privateKey), insecure);
    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: fx.redirectUri, scope: 'openid offline_access', prompt: 'consent', state: 'st',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { DPoP: dpop });
    const landed = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
    const tokens = await oidc.authorizationCodeGrant(rp, landed, { pkceCodeVerifier: verifier, expectedState: 'st' }, undefined, { DPoP: dpop });
    const refreshToken = tokens.refresh_token!;
    expect(refreshToken).toEqual(expect.any(String));

    for (let i = 0; i < 3; i += 1) {
      const refreshed = await oidc.refreshTokenGrant(rp, refreshToken, undefined, { DPoP: dpop });
      expect(refreshed.refresh_token).toBe(refreshToken);
      expect(refreshed.token_type.toLowerCase()).toBe('dpop');
    }
  });
});
