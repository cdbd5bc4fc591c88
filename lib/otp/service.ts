import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Store } from '../../adapters/index.js';
import type { RateLimiter } from '../../adapters/store.js';
import type { OtpConfig } from '../config.js';
import type { DeliveryQueue } from '../delivery/queue.js';
import { withinLimit } from '../sessions/errors.js';
import type { UserService } from '../users/service.js';

export type OtpChannel = 'email' | 'sms';

/** The user's last passcode: only its digest is kept, with the id its attempt counter hangs on. */
interface StoredPasscode {
  id: string;
  salt: string;
  digest: string;
}

const passcodeKey = (userId: string) => `otp:${userId}`;
const digestOf = (salt: string, passcode: string) => createHash('sha256').update(`${salt}:${passcode}`).digest('base64url');

/**
 * One-time passcodes by email or SMS (seed 004 backend methods). A passcode is short-lived
 * (`otp.ttl`), single-use, void after `otp.attempts` wrong tries, and replaced by the next one
 * sent; at most `otp.sendLimit` are sent to a user per window. Answers never say whether an
 * identifier names a user.
 */
export class OtpService {
  private readonly sends: RateLimiter;
  private readonly attempts: RateLimiter;

  constructor(
    private readonly store: Store,
    private readonly users: UserService,
    private readonly delivery: DeliveryQueue,
    private readonly config: OtpConfig,
  ) {
    this.sends = store.rateLimiter({ name: 'otp-send', ...config.sendLimit });
    this.attempts = store.rateLimiter({ name: 'otp-attempt', points: config.attempts, duration: config.ttl });
  }

  /**
   * Sends a new passcode to the user's verified email address or phone number. An identifier
   * that names nobody, or a user without a verified address on that channel, is answered the
   * same way and nothing is sent. The message is only queued: neither the answer nor its time
   * may depend on delivery, or they would tell which identifiers name a user.
   */
  async send(channel: OtpChannel, identifier: string): Promise<void> {
    const user = await this.users.findByIdentifier(identifier);
    await withinLimit(this.sends, user?.user_id ?? `unknown:${identifier.trim().toLowerCase()}`);
    // only a verified address: a passcode to an address nobody proved is no second factor
    const to = channel === 'email'
      ? user?.email_verified ? user.email : undefined
      : user?.phone_number_verified ? user.phone_number : undefined;
    if (!user || !to) return;

    const passcode = String(randomInt(0, 10 ** this.config.length)).padStart(this.config.length, '0');
    const salt = randomBytes(16).toString('base64url');
    const stored: StoredPasscode = { id: randomBytes(12).toString('base64url'), salt, digest: digestOf(salt, passcode) };
    await this.store.putJSON(passcodeKey(user.user_id), stored, this.config.ttl);

    const minutes = Math.max(1, Math.round(this.config.ttl / 60));
    const text = `Your sign-in code is ${passcode}. It expires in ${minutes} minute${minutes === 1 ? '' : 's'}. If you did not ask for it, ignore this message.`;
    this.delivery.enqueue(channel === 'email' ? { channel, to, subject: 'Your sign-in code', text } : { channel, to, text });
  }

  /** The user id when `passcode` is the identified user's current passcode, which is then used up. */
  async verify(identifier: string, passcode: string): Promise<string | undefined> {
    const user = await this.users.findByIdentifier(identifier);
    const key = user && passcodeKey(user.user_id);
    const read = key ? await this.store.readJSON<StoredPasscode>(key) : undefined;
    if (!user || !key || !read) return undefined;
    const stored = read.value;
    // the count hangs on this passcode's id and outlives it (its window opens after the passcode
    // was made), so a used-up passcode stays void without being deleted: a delete here could
    // remove a newer passcode sent since it was read
    if (!(await this.attempts.consume(`${user.user_id}:${stored.id}`)).allowed) return undefined;
    const expected = Buffer.from(stored.digest);
    const actual = Buffer.from(digestOf(stored.salt, passcode));
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return undefined;
    // single use, and only while it is still the user's passcode: of concurrent right answers
    // one removes it, and a passcode replaced meanwhile is left to its successor
    if (!(await this.store.removeJSON(key, read.revision))) return undefined;
    // a user deleted while the passcode was checked is signed in nowhere
    if (!(await this.users.recordAuthentication(user.user_id))) return undefined;
    return user.user_id;
  }
}
