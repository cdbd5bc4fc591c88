import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../lib/config.js';
import { createFixture, startIdp, uniquePrefix, type Fixture, type StartOptions, type TestIdp } from '../support/idp.js';
import { Browser } from '../support/browserless.js';
import {
  authorize, backend, browserSignIn, createAppClient, idTokenClaims, passcodeIn, startMailbox, type AppClient,
} from './support.js';

/**
 * Session lifetime, silent-authentication limits and passcode limits, on two instances of one
 * deployment (one Redis, one key prefix) with short settings: sessions live 6 s after their last
 * authentication, 4 silent authentications per session and 7 per client a minute, passcodes
 * live 2 s and 2 may be sent a minute.
 */
describe('session lifetime and limits (two instances)', () => {
  let a: TestIdp;
  let b: TestIdp;
  let fx: Fixture;
  let mailbox: Awaited<ReturnType<typeof startMailbox>>;

  beforeAll(async () => {
    mailbox = await startMailbox();
    const options: StartOptions = {
      prefix: uniquePrefix(),
      env: { SMTP_URL: mailbox.url },
      overrides: {
        ttl: { ...loadConfig({}).ttl, session: 6 },
        silentAuthLimit: { perSession: { points: 4, duration: 60 }, perClient: { points: 7, duration: 60 } },
        otp: { length: 6, ttl: 2, attempts: 5, sendLimit: { points: 2, duration: 60 } },
      },
    };
    a = await startIdp(options);
    b = await startIdp(options);
    fx = await createFixture(a);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await mailbox.close();
  });

  const signIn = (t: TestIdp, app: AppClient, sessionId?: string) => backend(t, app, 'password/authenticate', {
    identifier: fx.user.email, password: fx.user.password, ...(sessionId ? { session_id: sessionId } : {}),
  });
  const silent = (t: TestIdp, app: AppClient, sessionId: string) => backend(t, app, 'session/authenticate', { session_id: sessionId });

  it('limits silent authentication per session and per client across both instances, with Retry-After', async () => {
    const app = await createAppClient(a, fx.appId);
    const first = (await signIn(a, app)).body.session_id as string;
    const statuses = [];
    for (const t of [a, b, a, b]) statuses.push((await silent(t, app, first)).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    for (const t of [a, b]) {
      const limited = await silent(t, app, first);
      expect(limited).toMatchObject({ status: 429, body: { message: 'Too many requests', error_code: 429 } });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    }
    // another session of the same client has its own count, until the client's 7th request
    const second = (await signIn(b, app)).body.session_id as string;
    expect((await silent(b, app, second)).status).toBe(200);
    expect((await silent(a, app, second)).status).toBe(429);
    // another client is not limited by this one
    const other = await createAppClient(a, fx.appId);
    expect((await silent(b, other, second)).status).toBe(200);
  });

  it('ends a session its lifetime after the last authentication: silent authentication (backend or prompt=none) does not extend it, a new authentication does', async () => {
    // the client would allow an hour (session_ttl): only the IdP session's own lifetime ends SSO here
    const app = await createAppClient(a, fx.appId, { session_ttl: 3600 });
    const browser = new Browser();
    const user = { email: fx.user.email, password: fx.user.password };
    const [idle, renewed, browserTokens] = await Promise.all([signIn(a, app), signIn(b, app), browserSignIn(a, app, browser, user)]);
    // each session's sign-in time as the IdP recorded it (epoch seconds); it is gone by that + 6 + 1
    const signedInAt = async (t: TestIdp, idToken: string) => (await idTokenClaims(t, idToken, app.client_id)).auth_time as number;
    const idleAt = await signedInAt(a, idle.body.id_token);
    const renewedAt = await signedInAt(b, renewed.body.id_token);
    const browserAt = browserTokens.claims()!.auth_time!;
    const until = (epoch: number) => sleep(Math.max(0, epoch * 1000 - Date.now()));
    const promptNone = async () => Object.fromEntries((await authorize(a, app, browser, user, { prompt: 'none' })).landed.searchParams);

    await until(idleAt + 3);
    expect((await silent(b, app, idle.body.session_id)).status).toBe(200);
    await until(renewedAt + 3);
    expect((await signIn(a, app, renewed.body.session_id)).status).toBe(200);
    await until(browserAt + 3);
    expect(await promptNone()).toHaveProperty('code');

    await until(idleAt + 7.1);
    expect(await silent(a, app, idle.body.session_id)).toMatchObject({ status: 400, body: { message: 'Session not found' } });
    await until(browserAt + 7.1);
    expect(await promptNone()).toMatchObject({ error: 'login_required' });
    await until(renewedAt + 7.1);
    expect((await silent(b, app, renewed.body.session_id)).status).toBe(200);

    await until(renewedAt + 10);
    expect(await silent(a, app, renewed.body.session_id)).toMatchObject({ status: 400, body: { message: 'Session not found' } });
  });

  it('refuses silent authentication to a client whose session_ttl the session has outlived, while others keep it', async () => {
    const brief = await createAppClient(a, fx.appId, { session_ttl: 1 });
    const regular = await createAppClient(a, fx.appId);
    const signedIn = await signIn(a, regular);
    const signedInAt = (await idTokenClaims(a, signedIn.body.id_token, regular.client_id)).auth_time as number;
    await sleep(Math.max(0, (signedInAt + 2.1) * 1000 - Date.now()));
    expect(await silent(b, brief, signedIn.body.session_id)).toMatchObject({ status: 400, body: { message: 'Session not found' } });
    expect((await silent(b, regular, signedIn.body.session_id)).status).toBe(200);
  });

  it('lets passcodes expire, and limits how many are sent', async () => {
    const app = await createAppClient(a, fx.appId);
    const send = (t: TestIdp) => backend(t, app, 'otp/send', { channel: 'email', identifier: fx.user.email });
    const seen = mailbox.received.length;
    expect(await send(a)).toMatchObject({ status: 200, body: { expires_in: 2 } });
    const passcode = passcodeIn((await mailbox.next(fx.user.email, seen)).text)!;
    await sleep(2500);
    expect(await backend(b, app, 'otp/authenticate', { identifier: fx.user.email, passcode }))
      .toMatchObject({ status: 400, body: { message: 'The passcode is invalid or expired' } });

    expect((await send(b)).status).toBe(200);
    const limited = await send(a);
    expect(limited).toMatchObject({ status: 429, body: { message: 'Too many requests' } });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
