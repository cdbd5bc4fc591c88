import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { pino } from 'pino';
import { createDelivery, type DeliveryConfig } from '../../lib/delivery/delivery.js';
import { DeliveryQueue } from '../../lib/delivery/queue.js';
import { freePort } from '../support/global-setup.js';
import { startMailbox } from '../support/mailbox.js';

const ADDRESS = '+15555550123';
const CODE = '480915';
const DIGEST_KEY = 'server-secret-for-log-digests';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The queue in front of real delivery: a real SMS gateway (HTTP) and a real SMTP server. */
describe('delivery queue', () => {
  let mailbox: Awaited<ReturnType<typeof startMailbox>>;
  beforeAll(async () => { mailbox = await startMailbox(); });
  afterAll(() => mailbox.close());

  /** A logger whose JSON lines are kept. */
  function capturingLogger() {
    const lines: string[] = [];
    return { lines, logger: pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } }) };
  }

  /** An SMS gateway answering with the given statuses in turn (200 once they run out), with the time of each call. */
  async function gateway(answers: number[]) {
    const calls: number[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls.push(Date.now());
        res.writeHead(answers[calls.length - 1] ?? 200).end();
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${port}/sms`, calls,
      close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
  }

  const config = (more: Partial<DeliveryConfig>): DeliveryConfig => ({ smtpFrom: 'no-reply@idp.example', smsTimeoutMs: 300, smsAttempts: 1, ...more });
  const sms = { channel: 'sms' as const, to: ADDRESS, text: `Your sign-in code is ${CODE}.` };

  it('returns at once, and retries a failing gateway with growing waits until it answers', async () => {
    const gw = await gateway([500, 503]);
    const { lines, logger } = capturingLogger();
    const queue = new DeliveryQueue(createDelivery(config({ smsWebhookUrl: gw.url }), logger), logger, DIGEST_KEY, { attempts: 4, backoffMs: 100 });
    queue.enqueue(sms);
    expect(gw.calls).toHaveLength(0);
    await queue.drain(5000);
    expect(gw.calls).toHaveLength(3);
    const waits = [gw.calls[1]! - gw.calls[0]!, gw.calls[2]! - gw.calls[1]!];
    expect(waits[0]).toBeGreaterThanOrEqual(90);
    expect(waits[1]).toBeGreaterThanOrEqual(190);
    expect(lines.filter((line) => line.includes('delivery given up'))).toEqual([]);
    await gw.close();
  });

  it('gives up after the last attempt with one log line that names neither the address nor the code', async () => {
    const gw = await gateway([500, 500, 500, 500]);
    const { lines, logger } = capturingLogger();
    const queue = new DeliveryQueue(createDelivery(config({ smsWebhookUrl: gw.url }), logger), logger, DIGEST_KEY, { attempts: 3, backoffMs: 50 });
    queue.enqueue(sms);
    await queue.drain(5000);
    expect(gw.calls).toHaveLength(3);
    const givenUp = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'delivery given up');
    expect(givenUp).toEqual([expect.objectContaining({
      level: 40, channel: 'sms', attempts: 3, reason: 'the gateway answered 500',
      // keyed: a dictionary of plain hashes of phone numbers does not find it
      to: createHmac('sha256', DIGEST_KEY).update(ADDRESS).digest('base64url').slice(0, 16),
    })]);
    expect(givenUp[0]!.to).not.toBe(createHash('sha256').update(ADDRESS).digest('base64url').slice(0, 16));
    expect(lines.join('\n')).not.toContain(ADDRESS);
    expect(lines.join('\n')).not.toContain(CODE);
    await gw.close();
  });

  it('does not retry a message whose try timed out (it may have been delivered: no second code)', async () => {
    const calls: number[] = [];
    const server = http.createServer((req) => { req.resume(); calls.push(Date.now()); });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const { lines, logger } = capturingLogger();
    const queue = new DeliveryQueue(createDelivery(config({ smsWebhookUrl: `http://127.0.0.1:${port}/sms` }), logger), logger, DIGEST_KEY, { attempts: 3, backoffMs: 50 });
    queue.enqueue(sms);
    await queue.drain(5000);
    await sleep(200);
    expect(calls).toHaveLength(1);
    const givenUp = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'delivery given up');
    expect(givenUp.map(({ attempts, reason }) => ({ attempts, reason }))).toEqual([{ attempts: 1, reason: 'the gateway did not answer in time' }]);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('does not retry what cannot succeed: a 4xx from the gateway, a channel not configured', async () => {
    const gw = await gateway([400]);
    const { lines, logger } = capturingLogger();
    const queue = new DeliveryQueue(createDelivery(config({ smsWebhookUrl: gw.url }), logger), logger, DIGEST_KEY, { attempts: 3, backoffMs: 50 });
    queue.enqueue(sms);
    queue.enqueue({ channel: 'email', to: 'ada@example.com', subject: 'Code', text: CODE });
    await queue.drain(5000);
    expect(gw.calls).toHaveLength(1);
    const givenUp = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'delivery given up');
    expect(givenUp.map(({ channel, attempts, reason }) => ({ channel, attempts, reason })).sort((a, b) => String(a.channel).localeCompare(String(b.channel)))).toEqual([
      { channel: 'email', attempts: 1, reason: 'no SMTP server is configured (SMTP_URL)' },
      { channel: 'sms', attempts: 1, reason: 'the gateway answered 400' },
    ]);
    await gw.close();
  });

  it('sends email through the SMTP server; with the server down, tries twice, then gives up without naming the address', async () => {
    const { lines, logger } = capturingLogger();
    const down = `smtp://127.0.0.1:${await freePort()}`;
    const failing = new DeliveryQueue(createDelivery(config({ smtpUrl: down }), logger), logger, DIGEST_KEY, { attempts: 2, backoffMs: 50 });
    const seen = mailbox.received.length;
    failing.enqueue({ channel: 'email', to: 'ada@example.com', subject: 'Code', text: CODE });
    const working = new DeliveryQueue(createDelivery(config({ smtpUrl: mailbox.url }), logger), logger, DIGEST_KEY);
    working.enqueue({ channel: 'email', to: 'bob@example.com', subject: 'Code', text: CODE });
    expect((await mailbox.next('bob@example.com', seen)).text).toContain(CODE);
    await failing.drain(5000);
    await sleep(50);
    expect(mailbox.received.slice(seen).map((m) => m.to)).toEqual([['bob@example.com']]);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.filter((line) => line.msg === 'email delivery failed')).toHaveLength(2);
    expect(logged.filter((line) => line.msg === 'delivery given up'))
      .toEqual([expect.objectContaining({ channel: 'email', attempts: 2, reason: 'the SMTP server did not accept the message' })]);
    expect(lines.join('\n')).not.toContain('ada@example.com');
  });
});
