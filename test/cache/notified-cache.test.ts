import { afterAll, describe, expect, it } from '@jest/globals';
import type { Store } from '../../adapters/index.js';
import { NotifiedCache } from '../../lib/notified-cache.js';
import { newStore, uniquePrefix } from '../support/idp.js';

/** The per-process cache of clients and resources, on a real Redis shared by two "instances". */
describe('NotifiedCache', () => {
  const prefix = uniquePrefix();
  const stores: Store[] = [newStore('redis', prefix), newStore('redis', prefix)];
  afterAll(() => Promise.all(stores.map((store) => store.close())));

  async function caches(channel: string): Promise<[NotifiedCache<string>, NotifiedCache<string>]> {
    const pair = stores.map((store) => new NotifiedCache<string>(store, channel)) as [NotifiedCache<string>, NotifiedCache<string>];
    await Promise.all(pair.map((cache) => cache.start()));
    return pair;
  }

  /** A load that counts its calls and answers what `current` holds when it is called. */
  function loader(current: { value: string }) {
    const load = Object.assign(async () => { load.calls += 1; return current.value; }, { calls: 0 });
    return load;
  }

  it('serves repeated reads from memory, and reads again after an invalidation on either instance', async () => {
    const [one, two] = await caches('cache-test-a');
    const record = { value: 'v1' };
    const load = loader(record);
    expect(await one.get('k', load)).toBe('v1');
    expect(await one.get('k', load)).toBe('v1');
    expect(load.calls).toBe(1);

    record.value = 'v2';
    await two.invalidate('k');
    // the other instance hears of it through Redis pub/sub
    for (let i = 0; i < 50 && (await one.get('k', load)) !== 'v2'; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(await one.get('k', load)).toBe('v2');
  });

  it('does not keep a read that was under way when an invalidation came (it may predate the write)', async () => {
    const [one] = await caches('cache-test-b');
    let release!: () => void;
    const slowRead = one.get('k', () => new Promise<string>((resolve) => { release = () => resolve('before the write'); }));
    await one.invalidate('k'); // the write happened while the read was under way
    release();
    expect(await slowRead).toBe('before the write');
    const load = loader({ value: 'after the write' });
    expect(await one.get('k', load)).toBe('after the write');
    expect(load.calls).toBe(1);
  });
});
