import { ApiError } from '../http/errors.js';
import type { RateLimiter } from '../../adapters/store.js';

/** Seed 004's answer for a session that does not exist, was logged out or expired. */
export const sessionNotFound = () => new ApiError(400, 'Session not found');

/** Counts one request against `limiter` for `key`; over the limit, 429 with Retry-After (seconds). */
export async function withinLimit(limiter: RateLimiter, key: string): Promise<void> {
  const { allowed, retryAfterMs } = await limiter.consume(key);
  if (!allowed) {
    throw new ApiError(429, 'Too many requests', { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
  }
}
