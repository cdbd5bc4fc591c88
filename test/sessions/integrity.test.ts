import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import type { Store } from '../../adapters/store.js';
import { api, clientCredentialsToken, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import {
  answer, authorize as thirdPartyAuthorize, BANK_SCOPES, createThirdParty, introspect, redeem,
} from '../support/consent.js';
import { authorize, backend, browserSignIn, createAppClient, idTokenClaims, type AppClient } from './support.js';

/** How many apps act at once on one session, and how many times each race is run. */
const APPS = 8;
const ROUNDS = 4;

/**
 * Sessions and grants under concurrency and hostile use (issue 13, findings 2, 3, 4, 12, and
 * revoking a client's tokens): every grant of a session dies with it, anonymous sessions do
 * not outlive their interaction, a third party's sid is no session_id, and deleting a user or
 * revoking a client's tokens leaves no token of theirs working.
 */
describe('session and grant integrity', () => {
  let t: TestIdp;
  let fx: Fixture;
  let apps: AppClient[];
  let redis: Redis;

  beforeAll(async () => {
    t = await startIdp({
      store: 'redis',
      // the races authenticate more often in one session than the default 10 a minute
      overrides: { scopes: BANK_SCOPES, silentAuthLimit: { perSession: { points: 100, duration: 60 }, perClient: { points: 600, duration: 60 } } },
    });
    fx = await createFixture(t);
    apps = [];
    for (let i = 0; i < APPS; i += 1) apps.push(await createAppClient(t, fx.appId, { scopes: ['openid', 'email', 'offline_access'] }));
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    redis.disconnect();
    await t.close();
  });

  /** A user of their own, so one test's sign-ins and deletions never touch another's. */
  async function newUser() {
    const email = `u-${randomBytes(4).toString('hex')}@example.com`;
    const created = await api(t, 'POST', '/v1/users', { email, email_verified: true, password: fx.user.password });
    expect(created.status).toBe(201);
    return { user_id: created.body.user_id as string, email, password: fx.user.password };
  }

  const passwordLogin = (app: AppClient, user: { email: string; password: string }, sessionId?: string) =>
    backend(t, app, 'password/authenticate', { identifier: user.email, password: user.password, ...(sessionId ? { session_id: sessionId } : {}) });

  /** Whether an access token still introspects active and its refresh token still refreshes, per token. */
  async function alive(app: AppClient, tokens: { access_token: string; refresh_token?: string }) {
    const active = (await oidc.tokenIntrospection(app.rp, tokens.access_token)).active;
    const refreshed = tokens.refresh_token === undefined ? 'none'
      : await oidc.refreshTokenGrant(app.rp, tokens.refresh_token).then(() => 'refreshed', (err: { error?: string }) => err.error ?? 'failed');
    return { active, refreshed };
  }
  const dead = { active: false, refreshed: 'invalid_grant' };

  it(`revokes at logout the grants of ${APPS} apps that authenticated silently in the session at once (${ROUNDS} rounds)`, async () => {
    const user = await newUser();
    for (let round = 0; round < ROUNDS; round += 1) {
      const signedIn = await passwordLogin(apps[0]!, user);
      expect(signedIn.status).toBe(200);
      const sessionId = signedIn.body.session_id as string;
      const silent = await Promise.all(apps.map((app) => backend(t, app, 'session/authenticate', { session_id: sessionId })));
      expect(silent.map((r) => r.status)).toEqual(apps.map(() => 200));

      expect((await backend(t, apps[0]!, 'session/logout', { session_id: sessionId })).status).toBe(204);
      const after = await Promise.all(apps.map((app, i) => alive(app, silent[i]!.body)));
      expect({ round, after }).toEqual({ round, after: apps.map(() => dead) });
      expect(await alive(apps[0]!, signedIn.body)).toEqual(dead);
    }
  }, 120_000);

  it(`keeps every app's entry when ${APPS} apps authenticate silently in one session at once: each app's own sid names the session (${ROUNDS} rounds)`, async () => {
    const user = await newUser();
    for (let round = 0; round < ROUNDS; round += 1) {
      const sessionId = (await passwordLogin(apps[0]!, user)).body.session_id as string;
      const silent = await Promise.all(apps.slice(1).map((app) => backend(t, app, 'session/authenticate', { session_id: sessionId })));
      expect(silent.map((r) => r.status)).toEqual(apps.slice(1).map(() => 200));
      const sids = await Promise.all(silent.map(async (r, i) => (await idTokenClaims(t, r.body.id_token, apps[i + 1]!.client_id)).sid as string));
      // the session record lists each app (a lost entry makes its sid name nothing)
      const found = await Promise.all(sids.map(async (sid) => (await backend(t, apps[0]!, 'session/authenticate', { session_id: sid })).status));
      expect({ round, found }).toEqual({ round, found: sids.map(() => 200) });
    }
  }, 120_000);

  it(`redeems the codes of ${APPS} apps that signed in by SSO at once in one browser (${ROUNDS} rounds)`, async () => {
    const user = await newUser();
    for (let round = 0; round < ROUNDS; round += 1) {
      const browser = new Browser();
      await browserSignIn(t, apps[0]!, browser, user);
      const redeemed = await Promise.all(apps.map((app) => browserSignIn(t, app, browser, user).then(() => 'ok', (err: { error?: string }) => err.error ?? 'failed')));
      expect({ round, redeemed }).toEqual({ round, redeemed: apps.map(() => 'ok') });
    }
  }, 120_000);

  it(`ends at a browser logout the grants of ${APPS} apps that signed in by SSO at once (${ROUNDS} rounds)`, async () => {
    const user = await newUser();
    // the stored code, read past the library's session binding (which a lost session entry fails)
    const grantOf = async (landed: URL) => (await t.idp.store.oidcAdapter('AuthorizationCode').find(landed.searchParams.get('code')!))!.grantId as string;
    for (let round = 0; round < ROUNDS; round += 1) {
      const browser = new Browser();
      const first = await browserSignIn(t, apps[0]!, browser, user);
      // each authorization registers its app's grant in the one session
      const sso = await Promise.all(apps.map((app) => authorize(t, app, browser, user)));
      const grantIds = await Promise.all(sso.map(({ landed }) => grantOf(landed)));

      const endSession = oidc.buildEndSessionUrl(apps[0]!.rp, { id_token_hint: first.id_token! });
      const page = await (await browser.follow(endSession.href, t.url)).response.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(page)![1]!;
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
      const done = await browser.follow(action, t.url, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
      });
      expect(done.response.status).toBe(200);
      const kept = await Promise.all(grantIds.map(async (grantId) => ((await t.idp.provider.Grant.find(grantId)) ? 'kept' : 'gone')));
      expect({ round, kept }).toEqual({ round, kept: apps.map(() => 'gone') });
    }
  }, 120_000);

  it('keeps no session of a cookieless visitor longer than an interaction (device, logout and authorization pages)', async () => {
    const before = new Set(await sessionKeys());
    const requests = 60;
    const answers = await Promise.all(Array.from({ length: requests }, (_, i) => {
      const path = ['/oidc/device', '/oidc/session/end', `/oidc/auth?client_id=${apps[0]!.client_id}&response_type=code&scope=openid`][i % 3]!;
      return fetch(`${t.url}${path}`, { redirect: 'manual' }).then((r) => r.status);
    }));
    expect(new Set(answers)).toEqual(new Set([200, 303]));
    const created = (await sessionKeys()).filter((key) => !before.has(key));
    // the device and logout pages keep an anti-CSRF secret in an anonymous session; nothing else does
    expect(created.length).toBeGreaterThan(0);
    expect(created.length).toBeLessThanOrEqual(requests);
    const ttls = await Promise.all(created.map((key) => redis.ttl(key)));
    expect(Math.max(...ttls)).toBeLessThanOrEqual(t.config.ttl.interaction);
    expect(Math.min(...ttls)).toBeGreaterThan(0);
  });

  async function sessionKeys(): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${t.config.redisKeyPrefix}oidc:Session:*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  }

  it("refuses a third party's sid as a session_id, and releases no sid to a third party", async () => {
    const user = await newUser();
    const tp = await createThirdParty(t, fx);
    const browser = new Browser();
    const started = await thirdPartyAuthorize(t, { ...fx, user }, tp, browser, {
      scope: 'openid', claims: JSON.stringify({ id_token: { sid: null } }),
    });
    const tokens = await redeem(tp, started, await answer(t, browser, started.url, true));
    expect(tokens.claims()).not.toHaveProperty('sid');

    // the sid the session holds for the third party (what it would have been given)
    const sessionCookie = /(?:^|; )_session=([^;]+)/.exec(browser.jar.header(`${t.issuer}/auth`))![1]!;
    const session = await t.idp.provider.Session.find(sessionCookie);
    const thirdPartySid = session!.sidFor(tp.client_id)!;
    expect(thirdPartySid).toMatch(/^[A-Za-z0-9_-]{21,}$/);
    expect(await backend(t, apps[0]!, 'session/authenticate', { session_id: thirdPartySid }))
      .toMatchObject({ status: 400, body: { message: 'Session not found', error_code: 400 } });
    expect(await backend(t, apps[0]!, 'session/logout', { session_id: thirdPartySid }))
      .toMatchObject({ status: 400, body: { message: 'Session not found', error_code: 400 } });

    // a first party's sid from the same browser session still is one
    const firstParty = await browserSignIn(t, apps[1]!, browser, user, { claims: JSON.stringify({ id_token: { sid: null } }) });
    const sid = (await idTokenClaims(t, firstParty.id_token!, apps[1]!.client_id)).sid as string;
    expect((await backend(t, apps[0]!, 'session/authenticate', { session_id: sid })).status).toBe(200);
  });

  it('deleting a user ends every session, grant and token of theirs: browser, backend and third party', async () => {
    const user = await newUser();
    const browser = new Browser();
    const fromBrowser = await browserSignIn(t, apps[0]!, browser, user, { scope: 'openid offline_access', prompt: 'consent' });
    const fromBackend = await passwordLogin(apps[1]!, user);
    expect(fromBackend.status).toBe(200);
    const tp = await createThirdParty(t, fx);
    const tpBrowser = new Browser();
    const started = await thirdPartyAuthorize(t, { ...fx, user }, tp, tpBrowser, { scope: 'openid balance offline_access', prompt: 'consent' });
    const thirdParty = await redeem(tp, started, await answer(t, tpBrowser, started.url, true));
    expect(thirdParty.refresh_token).toEqual(expect.any(String));
    expect(await introspect(t, fx, thirdParty.access_token)).toMatchObject({ active: true });

    expect((await api(t, 'DELETE', `/v1/users/${user.user_id}`)).status).toBe(204);

    expect(await alive(apps[0]!, { access_token: fromBrowser.access_token, refresh_token: fromBrowser.refresh_token! })).toEqual(dead);
    expect(await alive(apps[1]!, fromBackend.body)).toEqual(dead);
    expect(await introspect(t, fx, thirdParty.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(tp.rp, thirdParty.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await backend(t, apps[1]!, 'session/authenticate', { session_id: fromBackend.body.session_id }))
      .toMatchObject({ status: 400, body: { message: 'Session not found', error_code: 400 } });
  });

  it('finishes a user deletion whose clean-up failed when the DELETE is retried (404, and the tokens are dead)', async () => {
    const user = await newUser();
    const fromBackend = await passwordLogin(apps[1]!, user);
    expect(fromBackend.status).toBe(200);
    // the store fails while the deletion looks for the user's sessions
    const { store } = t.idp;
    const setMembers = store.setMembers.bind(store);
    store.setMembers = async (key: string) => {
      if (key.includes('sessions-of-account:')) {
        store.setMembers = setMembers;
        throw new Error('Command timed out');
      }
      return setMembers(key);
    };
    expect((await api(t, 'DELETE', `/v1/users/${user.user_id}`)).status).toBe(503);
    expect(store.setMembers).toBe(setMembers);
    expect(await api(t, 'DELETE', `/v1/users/${user.user_id}`)).toMatchObject({ status: 404, body: { message: 'User not found' } });
    expect(await alive(apps[1]!, fromBackend.body)).toEqual(dead);
  });

  describe('POST /v1/applications/{appId}/clients/{clientId}/tokens/revoke', () => {
    const revokePath = (client: string, appId = fx.appId) => `/v1/applications/${appId}/clients/${client}/tokens/revoke`;

    it("revokes every token of the client (users' and its own client_credentials), and no other client's", async () => {
      const user = await newUser();
      const app = await createAppClient(t, fx.appId, { scopes: ['openid', 'offline_access'], grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
      const other = apps[2]!;
      const browser = new Browser();
      const fromBrowser = await browserSignIn(t, app, browser, user, { scope: 'openid offline_access', prompt: 'consent' });
      const fromBackend = await passwordLogin(app, user);
      const machine = await clientCredentialsToken(t.issuer, app.client_id, app.client_secret);
      const otherTokens = (await backend(t, other, 'session/authenticate', { session_id: fromBackend.body.session_id })).body;

      expect(await api(t, 'POST', revokePath(app.client_id))).toMatchObject({ status: 204 });

      expect(await alive(app, { access_token: fromBrowser.access_token, refresh_token: fromBrowser.refresh_token! })).toEqual(dead);
      expect(await alive(app, fromBackend.body)).toEqual(dead);
      expect((await oidc.tokenIntrospection(app.rp, machine)).active).toBe(false);
      expect((await oidc.tokenIntrospection(app.rp, app.token)).active).toBe(false);
      // the session and the other app's tokens are untouched
      expect((await oidc.tokenIntrospection(other.rp, otherTokens.access_token)).active).toBe(true);
      expect((await backend(t, other, 'session/authenticate', { session_id: fromBackend.body.session_id })).status).toBe(200);
      // and the client can get new tokens
      const again = await clientCredentialsToken(t.issuer, app.client_id, app.client_secret);
      expect((await oidc.tokenIntrospection(app.rp, again)).active).toBe(true);
    });

    it('needs the roles the client holds, and answers 404 for an unknown client or one of another application', async () => {
      const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Admin tool', roles: ['admin'], grant_types: ['client_credentials'], scopes: [] });
      expect(created.status).toBe(201);
      const manager = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Manager', roles: ['app_manager'], grant_types: ['client_credentials'], scopes: [] });
      const managerToken = await clientCredentialsToken(t.issuer, manager.body.client_id, manager.body.client_secret);

      expect(await api(t, 'POST', revokePath(created.body.client_id), undefined, managerToken)).toMatchObject({
        status: 403, body: { message: 'Forbidden: only a client holding admin (or admin) may assign it or manage a client that holds it' },
      });
      expect(await api(t, 'POST', revokePath(apps[3]!.client_id), undefined, managerToken)).toMatchObject({ status: 204 });
      expect(await api(t, 'POST', revokePath('no-such-client'))).toMatchObject({ status: 404, body: { message: 'Client not found' } });
      const otherApp = (await api(t, 'POST', '/v1/applications', { name: 'Other' })).body.app_id as string;
      expect(await api(t, 'POST', revokePath(apps[3]!.client_id, otherApp))).toMatchObject({ status: 404, body: { message: 'Client not found' } });
    });
  });
});

/** A point where the next request to pass waits until the test lets it go. */
function holdPoint() {
  let next: { reached: () => void; released: Promise<void> } | undefined;
  const waitIfHeld = async () => {
    const hold = next;
    next = undefined;
    if (hold) {
      hold.reached();
      await hold.released;
    }
  };
  /** Holds the next request; `reached` settles when it is waiting. */
  const holdNext = () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const reached = new Promise<void>((resolve) => { next = { reached: resolve, released }; });
    return { reached, release };
  };
  return { waitIfHeld, holdNext };
}

/**
 * A Store whose next Session save (or next session end mark) waits until the test lets it go:
 * the save of a request that read the session before a logout then really lands after the
 * logout, or a logout that read the session really marks it ended after a save.
 */
function holdingSessionSaves() {
  const saves = holdPoint();
  const endMarks = holdPoint();
  const wrap = (store: Store): Store => {
    const wrapped = Object.create(store) as Store;
    // the library saves a session whole (upsert); the backend methods write it by compare-and-set
    wrapped.replaceOidcRecord = async (model, ...args) => {
      if (model === 'Session') await saves.waitIfHeld();
      return store.replaceOidcRecord(model, ...args);
    };
    wrapped.oidcAdapter = (model: string) => {
      const adapter = store.oidcAdapter(model);
      if (model !== 'Session') return adapter;
      const held = Object.create(adapter) as typeof adapter;
      held.upsert = async (id, payload, expiresIn) => {
        await saves.waitIfHeld();
        await adapter.upsert(id, payload, expiresIn);
      };
      return held;
    };
    // lib/sessions/session-index.ts: the mark a session end writes first
    wrapped.putJSON = async (key, ...args) => {
      if (key.startsWith('session-ended:')) await endMarks.waitIfHeld();
      return store.putJSON(key, ...args);
    };
    return wrapped;
  };
  return { wrap, holdNext: saves.holdNext, holdNextEndMark: endMarks.holdNext };
}

describe('a sign-in that read the session before its logout, and saves it after', () => {
  let t: TestIdp;
  let fx: Fixture;
  let apps: AppClient[];
  const saves = holdingSessionSaves();

  beforeAll(async () => {
    t = await startIdp({ store: 'redis', wrapStore: saves.wrap });
    fx = await createFixture(t);
    // the third app authenticates only in the last test, so its grants are that test's alone
    apps = [await createAppClient(t, fx.appId), await createAppClient(t, fx.appId), await createAppClient(t, fx.appId)];
  });
  afterAll(() => t.close());

  /** The logout page's form, confirmed with logout=yes. */
  async function browserLogout(browser: Browser, idToken: string) {
    const page = await (await browser.follow(oidc.buildEndSessionUrl(apps[0]!.rp, { id_token_hint: idToken }).href, t.url)).response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(page)![1]!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
    return browser.follow(action, t.url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
  }

  it('does not bring back a browser session, nor keep the grant it added (prompt=none after the logout: login_required)', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const browser = new Browser();
      const first = await browserSignIn(t, apps[0]!, browser, fx.user);
      const held = saves.holdNext();
      const silent = authorize(t, apps[1]!, browser, fx.user, { prompt: 'none' });
      await held.reached;
      expect((await browserLogout(browser, first.id_token!)).response.status).toBe(200);
      held.release();
      const { landed } = await silent;
      const code = landed.searchParams.get('code')!;
      expect(code).toEqual(expect.any(String));

      // the late save was undone: no SSO, and the code of the grant it added is worth nothing
      const after = await authorize(t, apps[1]!, browser, fx.user, { prompt: 'none' });
      expect({ round, error: after.landed.searchParams.get('error') }).toEqual({ round, error: 'login_required' });
      const grantId = (await t.idp.store.oidcAdapter('AuthorizationCode').find(code))?.grantId as string;
      expect({ round, grant: await t.idp.provider.Grant.find(grantId) }).toEqual({ round, grant: undefined });
    }
  }, 60_000);

  it("does not bring back, with a late save, a session id a logout retired (the app that left stays out)", async () => {
    const backendApp = await createAppClient(t, fx.appId);
    for (let round = 0; round < ROUNDS; round += 1) {
      const browser = new Browser();
      const first = await browserSignIn(t, apps[0]!, browser, fx.user, { claims: JSON.stringify({ id_token: { sid: null } }) });
      const sid = (await idTokenClaims(t, first.id_token!, apps[0]!.client_id)).sid as string;
      expect((await backend(t, backendApp, 'session/authenticate', { session_id: sid })).status).toBe(200);
      // another tab's authorization has read the session and saves it late
      const held = saves.holdNext();
      const silent = authorize(t, apps[1]!, browser, fx.user, { prompt: 'none' });
      await held.reached;
      // the first app leaves the session (RP-initiated logout without logout=yes): its entry is
      // removed and the session moves to a new id (oidc-provider destroys the old one)
      const page = await (await browser.follow(oidc.buildEndSessionUrl(apps[0]!.rp, { id_token_hint: first.id_token! }).href, t.url)).response.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(page)![1]!;
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
      const left = await browser.follow(action, t.url, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf }).toString(),
      });
      expect(left.response.status).toBe(200);
      held.release();
      await silent;
      expect({ round, ...await backend(t, backendApp, 'session/authenticate', { session_id: sid }) })
        .toMatchObject({ round, status: 400, body: { message: 'Session not found', error_code: 400 } });
    }
  }, 60_000);

  it("does not revert a sign-in's new authentication with a silent authentication's older copy (auth_time kept)", async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const signIn = (sessionId?: string) => backend(t, apps[0]!, 'password/authenticate', {
        identifier: fx.user.email, password: fx.user.password, ...(sessionId ? { session_id: sessionId } : {}),
      });
      const sessionId = (await signIn()).body.session_id as string;
      await sleep(1100); // the second sign-in's auth_time is a later second
      const held = saves.holdNext();
      const silent = backend(t, apps[1]!, 'session/authenticate', { session_id: sessionId });
      await held.reached;
      const again = await signIn(sessionId);
      expect(again.status).toBe(200);
      held.release();
      expect((await silent).status).toBe(200);
      const signedInAt = (await idTokenClaims(t, again.body.id_token, apps[0]!.client_id)).auth_time;
      const after = await backend(t, apps[1]!, 'session/authenticate', { session_id: sessionId });
      expect({ round, authTime: (await idTokenClaims(t, after.body.id_token, apps[1]!.client_id)).auth_time }).toEqual({ round, authTime: signedInAt });
    }
  }, 60_000);

  it('undoes a silent authentication whose save lands after the logout ("Session not found", its grant revoked)', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const signedIn = await backend(t, apps[0]!, 'password/authenticate', { identifier: fx.user.email, password: fx.user.password });
      const sessionId = signedIn.body.session_id as string;
      const held = saves.holdNext();
      const silent = backend(t, apps[2]!, 'session/authenticate', { session_id: sessionId });
      await held.reached;
      expect((await backend(t, apps[0]!, 'session/logout', { session_id: sessionId })).status).toBe(204);
      held.release();
      expect(await silent).toMatchObject({ status: 400, body: { message: 'Session not found', error_code: 400 } });
      expect(await backend(t, apps[2]!, 'session/authenticate', { session_id: sessionId }))
        .toMatchObject({ status: 400, body: { message: 'Session not found', error_code: 400 } });
      // every grant the second app was ever given here (one per round) is gone
      const grantIds = await t.idp.store.setMembers(`grants-of-client:${apps[2]!.client_id}`);
      expect(grantIds).toHaveLength(round + 1);
      const kept = await Promise.all(grantIds.map((grantId) => t.idp.provider.Grant.find(grantId)));
      expect({ round, kept }).toEqual({ round, kept: grantIds.map(() => undefined) });
    }
  }, 60_000);

  it('revokes at logout the grant of a silent authentication saved after the logout read the session', async () => {
    // an app of its own: its grants are this test's alone
    const late = await createAppClient(t, fx.appId);
    for (let round = 0; round < ROUNDS; round += 1) {
      const signedIn = await backend(t, apps[0]!, 'password/authenticate', { identifier: fx.user.email, password: fx.user.password });
      const sessionId = signedIn.body.session_id as string;
      // the logout has read the session (without the late app) and waits before ending it
      const held = saves.holdNextEndMark();
      const logout = backend(t, apps[0]!, 'session/logout', { session_id: sessionId });
      await held.reached;
      const silent = await backend(t, late, 'session/authenticate', { session_id: sessionId });
      expect(silent.status).toBe(200);
      held.release();
      expect((await logout).status).toBe(204);
      // the logout's copy did not list the late app's grant: the session's grant index did
      expect({ round, active: (await oidc.tokenIntrospection(late.rp, silent.body.access_token)).active }).toEqual({ round, active: false });
      const grantIds = await t.idp.store.setMembers(`grants-of-client:${late.client_id}`);
      expect(grantIds).toHaveLength(round + 1);
      const kept = await Promise.all(grantIds.map((grantId) => t.idp.provider.Grant.find(grantId)));
      expect({ round, kept }).toEqual({ round, kept: grantIds.map(() => undefined) });
    }
  }, 60_000);
});
