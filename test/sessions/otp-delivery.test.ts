import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { randomInt } from 'node:crypto';
import { freePort } from '../support/global-setup.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { backend, createAppClient, passcodeIn, startMailbox, type AppClient } from './support.js';

const ROUNDS = 30;
/** What a median may differ by: far below the slow mail server's 100 ms, far above Redis round trips. */
const TIMING_BOUND_MS = 20;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Issue 13 finding 5: `POST /v1/auth/otp/send` must not tell which identifiers name a user,
 * neither by its answer nor by its time, whatever delivery does: the message is sent after
 * the answer. A mail server that takes 100 ms to accept, and an SMS gateway that always fails.
 */
describe('one-time code requests answer alike for known and unknown identifiers', () => {
  let t: TestIdp;
  let fx: Fixture;
  let app: AppClient;
  let mailbox: Awaited<ReturnType<typeof startMailbox>>;
  let gateway: http.Server;
  let gatewayCalls = 0;
  const phone = `+1555${randomInt(1_000_000, 9_999_999)}`;

  beforeAll(async () => {
    mailbox = await startMailbox({ delayMs: 100 });
    const gatewayPort = await freePort();
    gateway = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        gatewayCalls += 1;
        res.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve) => gateway.listen(gatewayPort, '127.0.0.1', resolve));
    t = await startIdp({
      store: 'redis',
      env: { SMTP_URL: mailbox.url, SMS_WEBHOOK_URL: `http://127.0.0.1:${gatewayPort}/sms` },
      overrides: { otp: { length: 6, ttl: 300, attempts: 5, sendLimit: { points: 1000, duration: 900 } } },
    });
    fx = await createFixture(t);
    expect((await api(t, 'PUT', `/v1/users/${fx.user.user_id}`, { phone_number: phone, phone_number_verified: true })).status).toBe(200);
    app = await createAppClient(t, fx.appId);
  });
  afterAll(async () => {
    await t.close();
    await mailbox.close();
    gateway.closeAllConnections();
    await new Promise((resolve) => gateway.close(resolve));
  });

  const send = async (channel: 'email' | 'sms', identifier: string) => {
    const started = performance.now();
    const { status, body } = await backend(t, app, 'otp/send', { channel, identifier });
    return { status, body, ms: performance.now() - started };
  };
  const sent = { status: 200, body: { message: 'Passcode sent', expires_in: 300 } };

  it(`takes as long for a user as for nobody while the mail server is slow (medians of ${ROUNDS}, within ${TIMING_BOUND_MS} ms)`, async () => {
    const known: number[] = [];
    const unknown: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      // alternate which goes first, so that neither always follows the other's delivery
      const pair = round % 2
        ? [await send('email', fx.user.email), await send('email', `nobody-${round}@example.com`)]
        : [await send('email', `nobody-${round}@example.com`), await send('email', fx.user.email)].reverse();
      expect(pair.map(({ status, body }) => ({ status, body }))).toEqual([sent, sent]);
      known.push(pair[0]!.ms);
      unknown.push(pair[1]!.ms);
    }
    const medians = { known: Math.round(median(known)), unknown: Math.round(median(unknown)) };
    expect({ ...medians, apart: Math.abs(medians.known - medians.unknown) < TIMING_BOUND_MS })
      .toEqual({ ...medians, apart: true });
  }, 60_000);

  it('answers a user and nobody alike (200, same body) while the SMS gateway fails', async () => {
    const before = gatewayCalls;
    const answers = [await send('sms', fx.user.email), await send('sms', 'nobody@example.com'), await send('sms', phone)];
    expect(answers.map(({ status, body }) => ({ status, body }))).toEqual([sent, sent, sent]);
    // the user's two messages were tried all the same, once each: the queue is the only layer that
    // retries (10 s later), not the SMS client under it too (3 tries each would be 6 calls by now)
    for (let waited = 0; waited < 50 && gatewayCalls < before + 2; waited += 1) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1000));
    expect(gatewayCalls - before).toBe(2);
  });

  it('still delivers the code, after the answer, and it signs the user in', async () => {
    // the codes of the timing test are still being delivered (100 ms each): a late one is not this test's
    for (let waited = 0; waited < 250 && mailbox.received.length < ROUNDS; waited += 1) await new Promise((r) => setTimeout(r, 20));
    expect(mailbox.received.length).toBe(ROUNDS);
    const seen = mailbox.received.length;
    expect(await send('email', fx.user.email)).toMatchObject(sent);
    const passcode = passcodeIn((await mailbox.next(fx.user.email, seen)).text);
    expect(passcode).toMatch(/^\d{6}$/);
    expect((await backend(t, app, 'otp/authenticate', { identifier: fx.user.email, passcode })).status).toBe(200);
  });
});
