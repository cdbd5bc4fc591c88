import { createHmac } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Logger } from '../logger.js';

/**
 * Outbound messages to users (CIBA links, one-time codes): email over SMTP, SMS through the
 * operator's gateway behind an HTTP webhook. Either channel may be left unconfigured; using it
 * then fails with a DeliveryError like any other delivery failure, so callers have one error
 * to answer.
 */
export interface Delivery {
  email(message: { to: string; subject: string; text: string }): Promise<void>;
  sms(message: { to: string; text: string }): Promise<void>;
}

export class DeliveryError extends Error {
  /**
   * `reason` names the failure without the address or the text (it is logged);
   * `permanent`: trying again cannot help (nothing configured, the message refused);
   * `maybeDelivered`: the last try timed out, so the message may have gone out after all.
   */
  constructor(readonly channel: 'email' | 'sms', readonly reason: string, readonly permanent = false, readonly maybeDelivered = false) {
    super(`${channel} delivery failed: ${reason}`);
  }
}

export interface DeliveryConfig {
  /** e.g. smtp://user:pass@smtp.example.com:587 or smtps://... */
  smtpUrl?: string;
  smtpFrom: string;
  /** the SMS gateway: POST { to, text } as JSON */
  smsWebhookUrl?: string;
  /** HMAC-SHA256 key: the webhook gets `X-IdP-Signature: sha256=<hex of the body>` to authenticate us */
  smsWebhookSecret?: string;
  smsTimeoutMs: number;
  smsAttempts: number;
}

const RETRY_BASE_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createDelivery(config: DeliveryConfig, logger: Logger): Delivery {
  const transport = config.smtpUrl ? nodemailer.createTransport(config.smtpUrl) : undefined;

  async function email({ to, subject, text }: { to: string; subject: string; text: string }): Promise<void> {
    if (!transport) throw new DeliveryError('email', 'no SMTP server is configured (SMTP_URL)', true);
    try {
      await transport.sendMail({ from: config.smtpFrom, to, subject, text });
    } catch (err) {
      // the SMTP server's own message may quote the recipient: only its codes are logged
      const { code, responseCode } = err as { code?: string; responseCode?: number };
      logger.warn({ err: { code, responseCode } }, 'email delivery failed');
      // SMTP 5xx: the server refused the message for good
      throw new DeliveryError('email', 'the SMTP server did not accept the message', responseCode !== undefined && responseCode >= 500);
    }
  }

  /** Retries timeouts, network errors and 5xx with backoff; a 4xx is final. */
  async function sms({ to, text }: { to: string; text: string }): Promise<void> {
    const url = config.smsWebhookUrl;
    if (!url) throw new DeliveryError('sms', 'no SMS gateway is configured (SMS_WEBHOOK_URL)', true);
    const body = JSON.stringify({ to, text });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (config.smsWebhookSecret) {
      headers['x-idp-signature'] = `sha256=${createHmac('sha256', config.smsWebhookSecret).update(body).digest('hex')}`;
    }
    let reason = 'no attempt made';
    let permanent = false;
    let maybeDelivered = false;
    for (let attempt = 1; attempt <= config.smsAttempts; attempt += 1) {
      try {
        const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(config.smsTimeoutMs) });
        if (response.ok) return;
        reason = `the gateway answered ${response.status}`;
        permanent = response.status < 500;
        maybeDelivered = false;
        if (permanent) break;
      } catch (err) {
        maybeDelivered = (err as Error).name === 'TimeoutError';
        reason = maybeDelivered ? 'the gateway did not answer in time' : 'the gateway could not be reached';
      }
      if (attempt < config.smsAttempts) await sleep(RETRY_BASE_MS * 2 ** (attempt - 1));
    }
    logger.warn({ reason }, 'sms delivery failed');
    throw new DeliveryError('sms', reason, permanent, maybeDelivered);
  }

  return { email, sms };
}
