import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Store } from '../../adapters/index.js';
import { newStore, uniquePrefix } from '../support/idp.js';

/**
 * The Redis grant index (oidc:grant:<grantId>) must outlive every record it lists, or a
 * revocation would miss the longest-lived ones; it is extended with headroom, not on every write.
 */
describe('Redis grant index lifetime', () => {
  const prefix = uniquePrefix();
  let store: Store;
  let redis: Redis;

  beforeAll(() => {
    store = newStore('redis', prefix);
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    redis.disconnect();
    await store.close();
  });

  const ttlOf = (key: string) => redis.ttl(`${prefix}${key}`);

  it('lives at least as long as its longest-lived member, whatever the order of writes', async () => {
    await store.oidcAdapter('AccessToken').upsert('at1', { grantId: 'g1' }, 100);
    const first = await ttlOf('oidc:grant:g1');
    expect(first).toBeGreaterThanOrEqual(99);
    await store.oidcAdapter('RefreshToken').upsert('rt1', { grantId: 'g1' }, 50_000);
    expect(await ttlOf('oidc:grant:g1')).toBeGreaterThanOrEqual(await ttlOf('oidc:RefreshToken:rt1'));
    const extended = await ttlOf('oidc:grant:g1');
    // a shorter member leaves it as it is
    await store.oidcAdapter('AccessToken').upsert('at2', { grantId: 'g1' }, 3600);
    expect(await ttlOf('oidc:grant:g1')).toBeGreaterThanOrEqual(extended - 1);
    // a longer one extends it again
    await store.oidcAdapter('RefreshToken').upsert('rt2', { grantId: 'g1' }, 200_000);
    expect(await ttlOf('oidc:grant:g1')).toBeGreaterThanOrEqual(await ttlOf('oidc:RefreshToken:rt2'));
    expect(await redis.smembers(`${prefix}oidc:grant:g1`)).toEqual(expect.arrayContaining([
      'oidc:AccessToken:at1', 'oidc:RefreshToken:rt1', 'oidc:AccessToken:at2', 'oidc:RefreshToken:rt2',
    ]));
  });
});
