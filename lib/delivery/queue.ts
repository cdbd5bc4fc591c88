import { createHmac } from 'node:crypto';
import type { Logger } from '../logger.js';
import { DeliveryError, type Delivery } from './delivery.js';

export type OutboundMessage =
  | { channel: 'email'; to: string; subject: string; text: string }
  | { channel: 'sms'; to: string; text: string };

export interface DeliveryQueueOptions {
  /** deliveries tried in all for one message */
  attempts: number;
  /** the wait before the second attempt; it doubles after each further one */
  backoffMs: number;
}

/** About a minute of retries (10 + 20 + 40 s) before a message is given up. */
export const DEFAULT_QUEUE_OPTIONS: DeliveryQueueOptions = { attempts: 4, backoffMs: 10_000 };

/**
 * Addresses are never logged in clear: this digest lets an operator match log lines to a user.
 * Keyed (HMAC with a server secret), since phone numbers and guessable emails would fall to a
 * dictionary of plain hashes.
 */
const addressDigest = (key: string, to: string) => createHmac('sha256', key).update(to.trim().toLowerCase()).digest('base64url').slice(0, 16);

const sleep = (ms: number) => new Promise<void>((resolve) => { setTimeout(resolve, ms).unref(); });

/**
 * Messages sent after the request that asked for them is answered, so that the answer (its
 * status, its body and its time) never depends on whether or how fast a message could be sent:
 * a one-time code request must not tell which identifiers name someone. A failed delivery is
 * tried again with backoff a bounded number of times (not a permanent failure such as a
 * refused address); a message given up is logged with its channel, the reason and a digest of
 * the address, never the address or the text (it carries the code). The queue is in process:
 * what is still waiting for a retry when the process ends is lost, and the user asks again.
 */
export class DeliveryQueue {
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * `delivery` makes one try per call: the queue is the only layer that retries (a client that
   * retries under it would multiply the messages sent). `digestKey`: the server secret for the
   * address digests in logs.
   */
  constructor(
    private readonly delivery: Delivery,
    private readonly logger: Logger,
    private readonly digestKey: string,
    private readonly options: DeliveryQueueOptions = DEFAULT_QUEUE_OPTIONS,
  ) {}

  /** Queues the message and returns at once; never throws. */
  enqueue(message: OutboundMessage): void {
    const sending = this.deliver(message).finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }

  /** Resolves once every queued message was sent or given up, or after `ms` (shutdown, tests). */
  async drain(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
    await Promise.race([Promise.all(this.inFlight), timeout]);
    clearTimeout(timer);
  }

  private async deliver(message: OutboundMessage): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await (message.channel === 'email' ? this.delivery.email(message) : this.delivery.sms(message));
        return;
      } catch (err) {
        const failure = err instanceof DeliveryError ? err : undefined;
        // a try that timed out may have been delivered: another could send the code twice
        if (!failure || failure.permanent || failure.maybeDelivered || attempt >= this.options.attempts) {
          this.logger.warn({
            channel: message.channel, to: addressDigest(this.digestKey, message.to), attempts: attempt, reason: failure?.reason ?? 'unexpected error',
          }, 'delivery given up');
          return;
        }
        await sleep(this.options.backoffMs * 2 ** (attempt - 1));
      }
    }
  }
}
