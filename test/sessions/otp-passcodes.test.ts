import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomInt } from 'node:crypto';
import type { Store } from '../../adapters/index.js';
import { loadConfig } from '../../lib/config.js';
import { createDelivery } from '../../lib/delivery/delivery.js';
import { DeliveryQueue } from '../../lib/delivery/queue.js';
import { createLogger } from '../../lib/logger.js';
import { OtpService } from '../../lib/otp/service.js';
import { UserService } from '../../lib/users/service.js';
import { newStore } from '../support/idp.js';
import { startMailbox } from '../support/mailbox.js';
import { passcodeIn } from './support.js';

/**
 * A store that can hold the passcode reads of a verification after they return, until the
 * test lets them go: what a slow request does when another one changes the record meanwhile.
 */
function holdingPasscodeReads(store: Store) {
  let gate: Promise<void> | undefined;
  let open = () => {};
  let held = () => {};
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      if (name !== 'getJSON' && name !== 'readJSON') return Reflect.get(target, name, receiver) as unknown;
      return async (key: string) => {
        const value: unknown = await (name === 'getJSON' ? target.getJSON(key) : target.readJSON(key));
        if (gate && key.startsWith('otp:')) {
          held();
          await gate;
        }
        return value;
      };
    },
  });
  return {
    store: wrapped,
    /** Holds the next passcode reads; resolves once one is held, with the function that lets them go. */
    hold: () => new Promise<() => void>((resolve) => {
      gate = new Promise<void>((release) => { open = () => { gate = undefined; release(); }; });
      held = () => resolve(open);
    }),
  };
}

describe.each(['memory', 'redis'] as const)('one-time passcodes (%s store)', (kind) => {
  let store: Store;
  let mailbox: Awaited<ReturnType<typeof startMailbox>>;
  let users: UserService;
  let otp: OtpService;
  let hold: () => Promise<() => void>;
  const config = loadConfig({}).otp;

  beforeAll(async () => {
    mailbox = await startMailbox();
    store = newStore(kind);
    const logger = createLogger('silent');
    const holding = holdingPasscodeReads(store);
    hold = holding.hold;
    users = new UserService(holding.store);
    await users.start();
    const queue = new DeliveryQueue(createDelivery({ smtpUrl: mailbox.url, smtpFrom: 'idp@example.com', smsTimeoutMs: 1000, smsAttempts: 1 }, logger), logger, 'log-digest-key');
    otp = new OtpService(holding.store, users, queue, { ...config, sendLimit: { points: 100, duration: 900 } });
  });
  afterAll(async () => {
    await store.close();
    await mailbox.close();
  });

  async function sendPasscode(email: string): Promise<string> {
    const seen = mailbox.received.length;
    await otp.send('email', email);
    return passcodeIn((await mailbox.next(email, seen)).text)!;
  }

  it('keeps a new passcode when a try at the old, used-up one finishes after it was sent', async () => {
    const email = `otp-${randomInt(1e9)}@example.com`;
    const user = await users.create({ email, email_verified: true });
    const old = await sendPasscode(email);
    const wrong = old === '000000' ? '000001' : '000000';
    for (let i = 0; i < config.attempts; i += 1) expect(await otp.verify(email, wrong)).toBeUndefined();
    // one more try at the used-up passcode, slow: a new passcode is sent while it runs
    const held = hold();
    const late = otp.verify(email, wrong);
    const release = await held;
    const fresh = await sendPasscode(email);
    release();
    expect(await late).toBeUndefined();
    expect(await otp.verify(email, fresh)).toBe(user.user_id);
  });

  it('keeps a new passcode when a right answer to the old one finishes after it was sent', async () => {
    const email = `otp-${randomInt(1e9)}@example.com`;
    const user = await users.create({ email, email_verified: true });
    const old = await sendPasscode(email);
    const held = hold();
    const late = otp.verify(email, old);
    const release = await held;
    const fresh = await sendPasscode(email);
    release();
    // the old passcode was replaced before it was used up: it no longer signs in, the new one does
    expect(await late).toBeUndefined();
    expect(await otp.verify(email, fresh)).toBe(user.user_id);
  });

  it('signs nobody in when the user is deleted while the right passcode is being checked', async () => {
    const email = `otp-${randomInt(1e9)}@example.com`;
    const user = await users.create({ email, email_verified: true });
    const passcode = await sendPasscode(email);
    const held = hold();
    const late = otp.verify(email, passcode);
    const release = await held;
    await users.delete(user.user_id);
    release();
    expect(await late).toBeUndefined();
  });
});
