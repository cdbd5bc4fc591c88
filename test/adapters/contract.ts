import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Store } from '../../adapters/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The store contract: what every store (embedded, Redis on one server, Sentinel or Cluster)
 * must do alike. Call inside a describe; `newStore` runs once, before the tests.
 */
export function storeContract(newStore: () => Store | Promise<Store>): void {
  let store: Store;
  beforeAll(async () => { store = await newStore(); });
  afterAll(() => store.close());

  describe('oidc-provider adapter', () => {
    it('upserts, finds and destroys a record', async () => {
      const adapter = store.oidcAdapter('Session');
      await adapter.upsert('s1', { uid: 'u1', accountId: 'a1' }, 60);
      expect(await adapter.find('s1')).toEqual({ uid: 'u1', accountId: 'a1' });
      expect(await adapter.findByUid('u1')).toEqual({ uid: 'u1', accountId: 'a1' });
      await adapter.destroy('s1');
      expect(await adapter.find('s1')).toBeUndefined();
      expect(await store.oidcAdapter('Grant').find('s1')).toBeUndefined();
    });

    it('replaces a record only if it is still the one read (compare-and-set), one of concurrent writers winning', async () => {
      const adapter = store.oidcAdapter('Session');
      await adapter.upsert('cas1', { uid: 'cas-u1', n: 0 }, 60);
      const read = (await adapter.find('cas1'))!;
      const outcomes = await Promise.all([1, 2, 3, 4, 5].map((n) => store.replaceOidcRecord('Session', 'cas1', read, { ...read, n }, 60)));
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const winner = outcomes.indexOf(true) + 1;
      expect(await adapter.findByUid('cas-u1')).toEqual({ uid: 'cas-u1', n: winner });
      // a stale copy is refused, a fresh one taken
      expect(await store.replaceOidcRecord('Session', 'cas1', read, { ...read, n: 9 }, 60)).toBe(false);
      const fresh = (await adapter.find('cas1'))!;
      expect(await store.replaceOidcRecord('Session', 'cas1', fresh, { ...fresh, n: 10 }, 60)).toBe(true);
      expect(await adapter.find('cas1')).toEqual({ uid: 'cas-u1', n: 10 });
      // a deleted record stays deleted
      await adapter.destroy('cas1');
      expect(await store.replaceOidcRecord('Session', 'cas1', { uid: 'cas-u1', n: 10 }, { uid: 'cas-u1', n: 11 }, 60)).toBe(false);
      expect(await adapter.find('cas1')).toBeUndefined();
    });

    it('indexes the records of a registered model in the same write (upsert and replace), as long as the longest-lived member', async () => {
      store.indexOidcRecords('ContractIndexed', (payload) => [`by-owner:${String(payload.owner)}`, 'all-indexed']);
      const adapter = store.oidcAdapter('ContractIndexed');
      await adapter.upsert('r1', { owner: 'o1' }, 2);
      await adapter.upsert('r2', { owner: 'o2' }, 1);
      expect((await store.setMembers('by-owner:o1')).sort()).toEqual(['r1']);
      expect((await store.setMembers('all-indexed')).sort()).toEqual(['r1', 'r2']);
      const read = (await adapter.find('r2'))!;
      expect(await store.replaceOidcRecord('ContractIndexed', 'r2', read, { owner: 'o1' }, 1)).toBe(true);
      expect((await store.setMembers('by-owner:o1')).sort()).toEqual(['r1', 'r2']);
      // other models are not indexed
      await store.oidcAdapter('AccessToken').upsert('not-indexed', { owner: 'o1' }, 60);
      expect((await store.setMembers('by-owner:o1')).sort()).toEqual(['r1', 'r2']);
      await sleep(1300);
      // r2's shorter TTL did not cut the index's life short
      expect((await store.setMembers('all-indexed')).sort()).toEqual(['r1', 'r2']);
      await sleep(1000);
      expect(await store.setMembers('all-indexed')).toEqual([]);
    });

    it('keeps models apart', async () => {
      await store.oidcAdapter('AccessToken').upsert('same-id', { accountId: 'x' }, 60);
      expect(await store.oidcAdapter('RefreshToken').find('same-id')).toBeUndefined();
    });

    it('expires records after expiresIn seconds', async () => {
      const adapter = store.oidcAdapter('AccessToken');
      await adapter.upsert('short', { accountId: 'a' }, 1);
      expect(await adapter.find('short')).toBeDefined();
      await sleep(1100);
      expect(await adapter.find('short')).toBeUndefined();
    });

    it('finds device codes by user code', async () => {
      const adapter = store.oidcAdapter('DeviceCode');
      await adapter.upsert('dc1', { userCode: 'ABCD-EFGH', grantId: 'g0' }, 60);
      expect((await adapter.findByUserCode('ABCD-EFGH'))?.grantId).toBe('g0');
      expect(await adapter.findByUserCode('ZZZZ-ZZZZ')).toBeUndefined();
    });

    it('consumes once, and records when', async () => {
      const adapter = store.oidcAdapter('AuthorizationCode');
      await adapter.upsert('code1', { grantId: 'g1' }, 60);
      await adapter.consume('code1');
      expect(typeof (await adapter.find('code1'))?.consumed).toBe('number');
      await expect(adapter.consume('code1')).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    it('lets exactly one of 50 concurrent consumers win', async () => {
      const adapter = store.oidcAdapter('RefreshToken');
      await adapter.upsert('rt-race', { grantId: 'g2' }, 60);
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => adapter.consume('rt-race')));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(49);
    });

    it('lets a consumed record through again within a reuse window, and only within it', async () => {
      const adapter = store.oidcAdapter('RefreshToken');
      await adapter.upsert('rt-window', { grantId: 'g3' }, 60);
      // 50 concurrent consumers with a window: the first consumes, every other one is let through
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => adapter.consume('rt-window', 2)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(50);
      const consumedAt = (await adapter.find('rt-window'))?.consumed;
      expect(typeof consumedAt).toBe('number');
      // without a window a consumed record is refused as always
      await expect(adapter.consume('rt-window')).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant has already been used' });
      await expect(adapter.consume('rt-window', 0)).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant has already been used' });
      // the window counts from the first consume (whole seconds), not from the latest reuse
      await sleep(2100);
      await expect(adapter.consume('rt-window', 1)).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant has already been used' });
      expect((await adapter.find('rt-window'))?.consumed).toBe(consumedAt);
      // a missing record is never let through
      await expect(adapter.consume('rt-missing', 60)).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant has already been used' });
      expect(await adapter.find('rt-missing')).toBeUndefined();
    });

    it('finds a record together with the grant it names', async () => {
      const grants = store.oidcAdapter('Grant');
      const tokens = store.oidcAdapter('RefreshToken');
      await grants.upsert('g-with', { accountId: 'a', clientId: 'c' }, 60);
      await tokens.upsert('rt-with', { grantId: 'g-with', accountId: 'a' }, 60);
      await tokens.consume('rt-with');
      expect(await tokens.findWithGrant('rt-with')).toEqual({
        record: { grantId: 'g-with', accountId: 'a', consumed: expect.any(Number) }, grant: { accountId: 'a', clientId: 'c' },
      });
      await tokens.upsert('rt-orphan', { grantId: 'g-gone', accountId: 'a' }, 60);
      expect(await tokens.findWithGrant('rt-orphan')).toEqual({ record: { grantId: 'g-gone', accountId: 'a' }, grant: undefined });
      await tokens.upsert('rt-alone', { accountId: 'a' }, 60);
      expect(await tokens.findWithGrant('rt-alone')).toEqual({ record: { accountId: 'a' }, grant: undefined });
      expect(await tokens.findWithGrant('rt-none')).toEqual({ record: undefined, grant: undefined });
      // the grant is destroyed with the record still there: the record alone
      await grants.destroy('g-with');
      expect((await tokens.findWithGrant('rt-with')).grant).toBeUndefined();
    });

    it('refuses to consume a used request_uri with invalid_request_uri', async () => {
      const adapter = store.oidcAdapter('PushedAuthorizationRequest');
      await adapter.upsert('par1', { request: 'x' }, 60);
      await adapter.consume('par1');
      await expect(adapter.consume('par1')).rejects.toMatchObject({ error: 'invalid_request_uri' });
    });

    it('keeps the consumed mark when a record is saved again', async () => {
      const adapter = store.oidcAdapter('DeviceCode');
      await adapter.upsert('dc2', { userCode: 'QQQQ-QQQQ' }, 60);
      await adapter.consume('dc2');
      await adapter.upsert('dc2', { userCode: 'QQQQ-QQQQ', accountId: 'a' }, 60);
      expect((await adapter.find('dc2'))?.consumed).toBeDefined();
    });

    it('revokes everything of a grant and nothing else', async () => {
      const at = store.oidcAdapter('AccessToken');
      const rt = store.oidcAdapter('RefreshToken');
      const code = store.oidcAdapter('AuthorizationCode');
      await at.upsert('at-g3', { grantId: 'g3' }, 60);
      await rt.upsert('rt-g3', { grantId: 'g3' }, 600);
      await code.upsert('code-g3', { grantId: 'g3' }, 60);
      await at.upsert('at-g4', { grantId: 'g4' }, 60);
      await at.revokeByGrantId('g3');
      expect(await at.find('at-g3')).toBeUndefined();
      expect(await rt.find('rt-g3')).toBeUndefined();
      expect(await code.find('code-g3')).toBeUndefined();
      expect(await at.find('at-g4')).toEqual({ grantId: 'g4' });
    });
  });

  describe('domain store', () => {
    it('creates a document only once', async () => {
      expect(await store.createJSON('once', { n: 1 })).toBe(true);
      expect(await store.createJSON('once', { n: 2 })).toBe(false);
      expect(await store.getJSON('once')).toEqual({ n: 1 });
    });

    it('claims unique keys for one owner at a time', async () => {
      expect(await store.claim('idx:a', 'owner1')).toBe(true);
      expect(await store.claim('idx:a', 'owner1')).toBe(true);
      expect(await store.claim('idx:a', 'owner2')).toBe(false);
      await store.release('idx:a', 'owner2');
      expect(await store.lookup('idx:a')).toBe('owner1');
      await store.release('idx:a', 'owner1');
      expect(await store.claim('idx:a', 'owner2')).toBe(true);
    });

    it('keeps sets and reads many documents at once', async () => {
      await store.setAdd('set1', 'a');
      await store.setAdd('set1', 'b');
      await store.setRemove('set1', 'a');
      expect(await store.setMembers('set1')).toEqual(['b']);
      await store.putJSON('doc:1', { v: 1 });
      expect(await store.getManyJSON(['doc:1', 'doc:missing'])).toEqual([{ v: 1 }, undefined]);
    });

    it('keeps a set given a TTL as long as its longest-lived member, then forgets it', async () => {
      await store.setAdd('ttl-set', 'long', 2);
      await store.setAdd('ttl-set', 'short', 1);
      await sleep(1300);
      // the shorter TTL did not cut the set's life short
      expect((await store.setMembers('ttl-set')).sort()).toEqual(['long', 'short']);
      await sleep(1000);
      expect(await store.setMembers('ttl-set')).toEqual([]);
      // a set that expired starts again empty
      await store.setAdd('ttl-set', 'again', 5);
      expect(await store.setMembers('ttl-set')).toEqual(['again']);
    });

    it('hands a taken document to exactly one of many concurrent takers', async () => {
      await store.putJSON('take:1', { v: 1 });
      const taken = await Promise.all(Array.from({ length: 20 }, () => store.takeJSON('take:1')));
      expect(taken.filter(Boolean)).toEqual([{ v: 1 }]);
      expect(await store.getJSON('take:1')).toBeUndefined();
    });

    it('replaces a document only at the revision it was read at', async () => {
      await store.putJSON('cas:1', { v: 1 });
      const read = await store.readJSON<{ v: number }>('cas:1');
      expect(read?.value).toEqual({ v: 1 });
      expect(await store.replaceJSON('cas:1', read!.revision, { v: 2 })).toBe(true);
      // the old revision is stale now
      expect(await store.replaceJSON('cas:1', read!.revision, { v: 3 })).toBe(false);
      expect(await store.getJSON('cas:1')).toEqual({ v: 2 });
      // a plain write also makes a read stale
      const second = await store.readJSON<{ v: number }>('cas:1');
      await store.putJSON('cas:1', { v: 4 });
      expect(await store.replaceJSON('cas:1', second!.revision, { v: 5 })).toBe(false);
      expect(await store.getJSON('cas:1')).toEqual({ v: 4 });
      expect(await store.readJSON('cas:missing')).toBeUndefined();
    });

    it('lets exactly one of concurrent replacers from one revision win', async () => {
      await store.putJSON('cas:race', { n: 0 });
      const read = await store.readJSON<{ n: number }>('cas:race');
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.replaceJSON('cas:race', read!.revision, { n: i + 1 })));
      expect(results.filter((won) => won)).toHaveLength(1);
      expect(await store.getJSON('cas:race')).toEqual({ n: results.indexOf(true) + 1 });
    });

    it('never brings a deleted document back by a replace', async () => {
      await store.putJSON('cas:gone', { v: 1 });
      const read = await store.readJSON<{ v: number }>('cas:gone');
      await store.delete(['cas:gone']);
      expect(await store.replaceJSON('cas:gone', read!.revision, { v: 2 })).toBe(false);
      expect(await store.getJSON('cas:gone')).toBeUndefined();
      expect(await store.readJSON('cas:gone')).toBeUndefined();
    });

    it('expires a replaced document after the TTL given to the replace', async () => {
      await store.putJSON('cas:ttl', { v: 1 });
      const read = await store.readJSON<{ v: number }>('cas:ttl');
      expect(await store.replaceJSON('cas:ttl', read!.revision, { v: 2 }, 1)).toBe(true);
      await sleep(1100);
      expect(await store.getJSON('cas:ttl')).toBeUndefined();
    });

    it('removes a document only at the revision it was read at', async () => {
      await store.putJSON('cas:rm', { v: 1 });
      const read = await store.readJSON<{ v: number }>('cas:rm');
      await store.putJSON('cas:rm', { v: 2 });
      expect(await store.removeJSON('cas:rm', read!.revision)).toBe(false);
      expect(await store.getJSON('cas:rm')).toEqual({ v: 2 });
      const fresh = await store.readJSON<{ v: number }>('cas:rm');
      const results = await Promise.all(Array.from({ length: 10 }, () => store.removeJSON('cas:rm', fresh!.revision)));
      expect(results.filter((removed) => removed)).toHaveLength(1);
      expect(await store.getJSON('cas:rm')).toBeUndefined();
    });

    it('leases due members to one taker at a time until they are unscheduled', async () => {
      await store.schedule('sched', 'late', 300);
      await store.schedule('sched', 'early', 100);
      await store.schedule('sched', 'moved', 50);
      await store.schedule('sched', 'moved', 250);
      await store.schedule('sched', 'dropped', 10);
      await store.unschedule('sched', 'dropped');
      const takers = await Promise.all([store.takeDue('sched', 260, 10, 100), store.takeDue('sched', 260, 10, 100)]);
      expect(takers.flat().sort()).toEqual(['early', 'moved']);
      // 'early' is finished; 'moved' is not, so its lease runs out and it is due again
      await store.unschedule('sched', 'early');
      expect(await store.takeDue('sched', 359, 10, 100)).toEqual(['late']);
      expect(await store.takeDue('sched', 360, 10, 100)).toEqual(['moved']);
    });

    it('keeps id sets through the housekeeping sweep', async () => {
      await store.setAdd('ids', 'not-a-key');
      (store as { sweep?: () => void }).sweep?.();
      expect(await store.setMembers('ids')).toEqual(['not-a-key']);
    });

    it('rate-limits per key, tells when to retry, and forgets on reset', async () => {
      const limiter = store.rateLimiter({ name: 'contract', points: 2, duration: 60 });
      expect((await limiter.consume('k1')).allowed).toBe(true);
      expect(await limiter.consume('k1')).toMatchObject({ allowed: true, remaining: 0 });
      const over = await limiter.consume('k1');
      expect(over.allowed).toBe(false);
      expect(over.retryAfterMs).toBeGreaterThan(50_000);
      expect((await limiter.consume('k2')).allowed).toBe(true);
      await limiter.reset('k1');
      expect((await limiter.consume('k1')).allowed).toBe(true);
      // a refunded point can be spent again
      expect((await limiter.consume('k2')).allowed).toBe(true);
      await limiter.refund('k2');
      expect(await limiter.consume('k2')).toMatchObject({ allowed: true, remaining: 0 });
      expect((await limiter.consume('k2')).allowed).toBe(false);
    });

    describe('pace', () => {
      const options = { interval: 5, step: 5, toleranceMs: 250, ttl: 60 };

      it('lets a first call through, slows a call that comes too soon by step each time, and lets an on-time call through', async () => {
        const t0 = Date.now();
        expect(await store.pace('pace-1', { ...options, now: t0 })).toEqual({ onTime: true, interval: 5 });
        expect(await store.pace('pace-1', { ...options, now: t0 + 1000 })).toEqual({ onTime: false, interval: 10 });
        // measured from the previous call, against the lengthened interval; the tolerance counts
        expect(await store.pace('pace-1', { ...options, now: t0 + 9000 })).toEqual({ onTime: false, interval: 15 });
        expect(await store.pace('pace-1', { ...options, now: t0 + 9000 + 14_750 })).toEqual({ onTime: true, interval: 15 });
        expect(await store.pace('pace-other', { ...options, now: t0 + 9000 })).toEqual({ onTime: true, interval: 5 });
      });

      it('lets exactly one of 20 concurrent first calls through', async () => {
        const now = Date.now();
        const paces = await Promise.all(Array.from({ length: 20 }, () => store.pace('pace-race', { ...options, now })));
        expect(paces.filter((p) => p.onTime)).toHaveLength(1);
        expect(paces.filter((p) => !p.onTime)).toHaveLength(19);
        expect(Math.max(...paces.map((p) => p.interval))).toBe(5 + 19 * 5);
      });

      it('forgets a key ttl seconds after its last call', async () => {
        const now = Date.now();
        await store.pace('pace-ttl', { ...options, ttl: 1, now });
        await sleep(1100);
        expect(await store.pace('pace-ttl', { ...options, now: now + 1200 })).toEqual({ onTime: true, interval: 5 });
      });
    });

    it('delivers published messages to subscribers', async () => {
      const received: string[] = [];
      await store.subscribe('chan', (m) => received.push(m), () => {});
      await store.publish('chan', 'hello');
      for (let i = 0; i < 50 && received.length === 0; i += 1) await sleep(10);
      expect(received).toEqual(['hello']);
    });
  });
}
