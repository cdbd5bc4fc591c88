import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisStore } from '../../adapters/redis-store.js';
import { uniquePrefix } from '../support/idp.js';
import { redisCommand, startOwnSentinel, until, type OwnSentinel } from '../support/redis-server.js';
import { storeContract } from './contract.js';

/**
 * A primary, its replica and one Sentinel of the test's own: the store contract holds through
 * Sentinel, and after a failover the store writes to the promoted replica and still reads
 * what it wrote before.
 */
let setup: OwnSentinel;

beforeAll(async () => { setup = await startOwnSentinel({ replicas: 1 }); });
afterAll(() => setup?.destroy());

describe('Redis Sentinel store', () => {
  storeContract(() => new RedisStore({ topology: setup.topology, keyPrefix: uniquePrefix() }));
});

describe('Redis Sentinel failover', () => {
  it('moves the store to the promoted replica: what was written is there, writes and messages go on', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ topology: setup.topology, keyPrefix: prefix });
    try {
      const received: string[] = [];
      let resyncs = 0;
      await store.subscribe('chan', (message) => received.push(message), () => { resyncs += 1; });
      const tokens = store.oidcAdapter('RefreshToken');
      await store.putJSON('before', { v: 1 });
      await tokens.upsert('rt', { grantId: 'g' }, 600);
      const old = await setup.primaryPort();
      // replication is asynchronous: wait until the replica has the writes, as a failover of a healthy primary does
      expect(await redisCommand(old, 'WAIT', 1, 2000)).toBe(1);

      await redisCommand(setup.sentinel.port, 'SENTINEL', 'FAILOVER', setup.name);
      await until('Sentinel promoting the replica', async () => (await setup.primaryPort()) !== old);
      const promoted = await setup.primaryPort();
      // until the store has noticed, a write may still reach the old primary (and be lost when it
      // turns replica): Sentinel's replication is asynchronous
      await until('the store writing to the promoted replica', async () => {
        await store.putJSON('after', { v: 2 });
        return (await redisCommand(promoted, 'EXISTS', `${prefix}after`)) === 1;
      });
      expect(await store.getJSON('before')).toEqual({ v: 1 });
      await tokens.consume('rt');
      expect(await tokens.find('rt')).toMatchObject({ grantId: 'g', consumed: expect.any(Number) });
      // the subscriber followed too, and dropped caches as messages may have been missed
      await until('the subscriber reconnecting', async () => resyncs > 0);
      await store.publish('chan', 'after failover');
      await until('the message', async () => received.includes('after failover'));
    } finally {
      await store.close();
    }
  });
});
