import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { SMTPServer } from 'smtp-server';
import { createDelivery, DeliveryError, type DeliveryConfig } from '../../lib/delivery/delivery.js';
import { createLogger } from '../../lib/logger.js';
import { freePort } from '../support/global-setup.js';

const logger = createLogger('silent');

/** The delivery layer against a real SMTP server and a real HTTP gateway, both started here. */
describe('delivery', () => {
  const mails: Array<{ from: string; to: string[]; raw: string }> = [];
  let smtp: SMTPServer;
  let smtpPort: number;

  beforeAll(async () => {
    smtpPort = await freePort();
    smtp = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'],
      onData(stream, session, callback) {
        let raw = '';
        stream.on('data', (chunk: Buffer) => { raw += chunk.toString(); });
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => smtp.close(() => resolve())));

  const config = (more: Partial<DeliveryConfig>): DeliveryConfig => ({
    smtpFrom: 'no-reply@idp.example', smsTimeoutMs: 300, smsAttempts: 3, ...more,
  });

  /** An SMS gateway answering with the given statuses in turn ('hang' never answers). */
  async function gateway(answers: Array<number | 'hang'>) {
    const received: Array<{ body: unknown; signature?: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => {
        received.push({ body: JSON.parse(body), signature: req.headers['x-idp-signature'] as string | undefined });
        const answer = answers[received.length - 1] ?? 200;
        if (answer !== 'hang') res.writeHead(answer).end();
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${port}/sms`, received,
      close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
  }

  it('sends email through the SMTP server', async () => {
    const delivery = createDelivery(config({ smtpUrl: `smtp://127.0.0.1:${smtpPort}` }), logger);
    await delivery.email({ to: 'ada@example.com', subject: 'Your code', text: 'Code: 123456' });
    const mail = mails.at(-1)!;
    expect(mail).toMatchObject({ from: 'no-reply@idp.example', to: ['ada@example.com'] });
    expect(mail.raw).toContain('Subject: Your code');
    expect(mail.raw).toContain('Code: 123456');
  });

  it('fails with a DeliveryError when SMTP is down or not configured', async () => {
    const down = createDelivery(config({ smtpUrl: `smtp://127.0.0.1:${await freePort()}` }), logger);
    await expect(down.email({ to: 'a@example.com', subject: 's', text: 't' })).rejects.toBeInstanceOf(DeliveryError);
    await expect(createDelivery(config({}), logger).email({ to: 'a@example.com', subject: 's', text: 't' }))
      .rejects.toThrow('email delivery failed: no SMTP server is configured (SMTP_URL)');
  });

  it('posts SMS to the gateway, signed, retrying a 5xx and a timeout', async () => {
    const gw = await gateway([503, 'hang', 200]);
    const delivery = createDelivery(config({ smsWebhookUrl: gw.url, smsWebhookSecret: 'sixteen-chars-secret' }), logger);
    await delivery.sms({ to: '+15555550100', text: 'hello' });
    expect(gw.received).toHaveLength(3);
    const expected = `sha256=${createHmac('sha256', 'sixteen-chars-secret').update(JSON.stringify({ to: '+15555550100', text: 'hello' })).digest('hex')}`;
    expect(gw.received.map((r) => r.signature)).toEqual([expected, expected, expected]);
    expect(gw.received[2]!.body).toEqual({ to: '+15555550100', text: 'hello' });
    await gw.close();
  });

  it('gives up on a 4xx at once, and after the last attempt otherwise', async () => {
    const refusing = await gateway([400]);
    await expect(createDelivery(config({ smsWebhookUrl: refusing.url }), logger).sms({ to: '+1', text: 'x' }))
      .rejects.toThrow('sms delivery failed: the gateway answered 400');
    expect(refusing.received).toHaveLength(1);
    await refusing.close();
    const failing = await gateway([500, 500, 500, 200]);
    await expect(createDelivery(config({ smsWebhookUrl: failing.url }), logger).sms({ to: '+1', text: 'x' }))
      .rejects.toThrow('sms delivery failed: the gateway answered 500');
    expect(failing.received).toHaveLength(3);
    await failing.close();
  });
});
