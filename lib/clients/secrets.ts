import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * Client secrets are 256-bit random values shown once. At rest we keep only
 * HMAC-SHA256(key, secret): a fast keyed hash is enough because the input has full entropy
 * (nothing to brute-force), and the key (IDP_CONFIG.clientSecretHashKey) lives outside the
 * store, so a Redis dump alone yields neither the secrets nor a way to test guesses.
 */
export class SecretHasher {
  /** imported once: an HMAC keyed with a string imports the key on every call */
  private readonly key: KeyObject;

  constructor(key: string) {
    this.key = createSecretKey(Buffer.from(key, 'utf8'));
  }

  static generate(): string {
    return randomBytes(32).toString('base64url');
  }

  digest(secret: string): string {
    return createHmac('sha256', this.key).update(secret).digest('base64url');
  }

  /** Constant-time comparison against every active digest (two during a rotation). */
  matches(presented: string, digests: readonly string[]): boolean {
    if (typeof presented !== 'string' || presented.length > 512) return false;
    const actual = Buffer.from(this.digest(presented));
    let found = false;
    for (const digest of digests) {
      const expected = Buffer.from(digest);
      found = (expected.length === actual.length && timingSafeEqual(expected, actual)) || found;
    }
    return found;
  }
}
