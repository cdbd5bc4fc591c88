import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, createFixture, startIdp, type Fixture, type StoreKind, type TestIdp } from '../support/idp.js';
import { Gate, holdingStore } from '../support/held-store.js';
import { startMailbox } from '../support/mailbox.js';
import { backend, createAppClient, passcodeIn, type AppClient } from '../sessions/support.js';

const INCORRECT = { status: 400, body: { message: 'The identifier or password is incorrect', error_code: 400 } };

/**
 * Issue 13 finding 1: a sign-in in flight must never write back the user it read before
 * the password check. Each race is forced: the sign-in's read of the user record is held at
 * a gate until the admin's change has been answered, then let go.
 */
describe.each<StoreKind>(['memory', 'redis'])('user records under concurrent sign-ins (%s store)', (kind) => {
  let t: TestIdp;
  let fx: Fixture;
  let app: AppClient;
  let mailbox: Awaited<ReturnType<typeof startMailbox>>;
  /** the gate that reads of `gated.key` wait at, while armed */
  const gated: { key?: string; gate?: Gate } = {};

  beforeAll(async () => {
    mailbox = await startMailbox();
    t = await startIdp({
      store: kind,
      env: { SMTP_URL: mailbox.url },
      wrapStore: (store) => holdingStore(store, { read: (key) => (key === gated.key ? gated.gate : undefined) }),
    });
    fx = await createFixture(t);
    app = await createAppClient(t, fx.appId);
  });
  afterAll(async () => {
    await t.close();
    await mailbox.close();
  });

  /** Holds the next `count` reads of the user's record (after `skip` others) until `open()`. */
  function holdReadsOf(userId: string, count: number, skip = 0): Gate {
    gated.gate = new Gate(count, { skip });
    gated.key = `user:${userId}`;
    return gated.gate;
  }

  const signIn = (identifier: string, password: string) => backend(t, app, 'password/authenticate', { identifier, password });

  async function newUser(password: string) {
    const email = `integrity-${Math.random().toString(36).slice(2)}@example.com`;
    const created = await api(t, 'POST', '/v1/users', { email, email_verified: true, password, given_name: 'Before' });
    expect(created.status).toBe(201);
    return { id: created.body.user_id as string, email };
  }

  it('keeps a new password set while sign-ins with the old one are in flight (5 rounds)', async () => {
    const user = await newUser('password number zero');
    let old = 'password number zero';
    for (let round = 1; round <= 5; round += 1) {
      const next = `password number ${round}`;
      const gate = holdReadsOf(user.id, 2);
      const inFlight = [signIn(user.email, old), signIn(user.email, old)];
      await gate.full;
      expect((await api(t, 'PUT', `/v1/users/${user.id}`, { password: next })).status).toBe(200);
      gate.open();
      // they proved the password that was current when they read the user; it changed before they finished
      expect(await Promise.all(inFlight)).toEqual([expect.objectContaining(INCORRECT), expect.objectContaining(INCORRECT)]);
      expect((await signIn(user.email, next)).status).toBe(200);
      expect(await signIn(user.email, old)).toMatchObject(INCORRECT);
      old = next;
    }
  });

  it('keeps a user deleted while sign-ins are in flight deleted (3 rounds)', async () => {
    for (let round = 1; round <= 3; round += 1) {
      const user = await newUser('correct horse battery');
      const gate = holdReadsOf(user.id, 2);
      const inFlight = [signIn(user.email, 'correct horse battery'), signIn(user.email, 'correct horse battery')];
      await gate.full;
      expect((await api(t, 'DELETE', `/v1/users/${user.id}`)).status).toBe(204);
      gate.open();
      expect(await Promise.all(inFlight)).toEqual([expect.objectContaining(INCORRECT), expect.objectContaining(INCORRECT)]);
      expect(await api(t, 'GET', `/v1/users/${user.id}`)).toMatchObject({ status: 404, body: { message: 'User not found' } });
      expect(await signIn(user.email, 'correct horse battery')).toMatchObject(INCORRECT);
    }
  });

  /** A profile change made while a sign-in is held between its read and its write: both must be kept. */
  async function changeProfileWhileHeld(userId: string, gate: Gate, inFlight: Promise<{ status: number }>) {
    await gate.full;
    expect((await api(t, 'PUT', `/v1/users/${userId}`, { given_name: 'After' })).status).toBe(200);
    gate.open();
    expect((await inFlight).status).toBe(200);
    const stored = await api(t, 'GET', `/v1/users/${userId}`);
    expect(stored).toMatchObject({ status: 200, body: { given_name: 'After', last_auth: expect.any(Number) } });
  }

  it('keeps both a profile change and the last_auth of a password sign-in that raced it', async () => {
    const user = await newUser('correct horse battery');
    const gate = holdReadsOf(user.id, 1);
    const inFlight = signIn(user.email, 'correct horse battery');
    await changeProfileWhileHeld(user.id, gate, inFlight);
  });

  it('keeps both a profile change and the last_auth of a passcode sign-in that raced it', async () => {
    const user = await newUser('correct horse battery');
    const before = mailbox.received.length;
    expect((await backend(t, app, 'otp/send', { channel: 'email', identifier: user.email })).status).toBe(200);
    for (let i = 0; i < 100 && mailbox.received.length === before; i += 1) await new Promise((r) => setTimeout(r, 20));
    const passcode = passcodeIn(mailbox.received[before]!.text)!;
    // the first read finds the user by identifier; the second is recordAuthentication's
    const gate = holdReadsOf(user.id, 1, 1);
    const inFlight = backend(t, app, 'otp/authenticate', { identifier: user.email, passcode });
    await changeProfileWhileHeld(user.id, gate, inFlight);
  });

  it('keeps both of two profile changes that raced each other', async () => {
    const user = await newUser('correct horse battery');
    const gate = holdReadsOf(user.id, 1);
    const slow = api(t, 'PUT', `/v1/users/${user.id}`, { given_name: 'Slow' });
    await gate.full;
    expect((await api(t, 'PUT', `/v1/users/${user.id}`, { family_name: 'Fast' })).status).toBe(200);
    gate.open();
    expect((await slow).status).toBe(200);
    expect(await api(t, 'GET', `/v1/users/${user.id}`)).toMatchObject({ status: 200, body: { given_name: 'Slow', family_name: 'Fast' } });
  });

  it('answers 404 to an update that raced a deletion, and gives back the identifier it had claimed', async () => {
    const user = await newUser('correct horse battery');
    const email = `renamed-${Math.random().toString(36).slice(2)}@example.com`;
    const gate = holdReadsOf(user.id, 1);
    const update = api(t, 'PUT', `/v1/users/${user.id}`, { email, password: 'a new password for it' });
    await gate.full;
    expect((await api(t, 'DELETE', `/v1/users/${user.id}`)).status).toBe(204);
    gate.open();
    expect(await update).toMatchObject({ status: 404, body: { message: 'User not found', error_code: 404 } });
    expect(await api(t, 'GET', `/v1/users/${user.id}`)).toMatchObject({ status: 404, body: { message: 'User not found' } });
    expect(await signIn(email, 'a new password for it')).toMatchObject(INCORRECT);
    // the address is free again
    expect((await api(t, 'POST', '/v1/users', { email, password: 'correct horse battery' })).status).toBe(201);
  });
});
