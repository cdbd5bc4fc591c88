import type { OidcAdapter, Store } from '../../adapters/store.js';

/**
 * Holds one model's consumes (a code, a refresh token) until `expected` of them are pending,
 * so that every presenter has read the record (unused) before any of them consumes it: the
 * race at its tightest. If fewer arrive, it opens after a while and the test's assertions say
 * what happened. Wrap the IdP's store with it (`startIdp({ wrapStore })`).
 */
export class ConsumeBarrier {
  private expected = 0;
  private waiting: Array<() => void> = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly model: string) {}

  private failure?: Error;

  /** The next consume fails with `error` without reaching the store (a store failure). */
  failNext(error: Error): void {
    this.failure = error;
  }

  arm(expected: number): void {
    this.expected = expected;
    this.timer = setTimeout(() => this.openAll(), 5000);
  }

  async arrive(): Promise<void> {
    if (this.expected === 0) return;
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length >= this.expected) this.openAll();
    });
  }

  private openAll(): void {
    clearTimeout(this.timer);
    const waiting = this.waiting;
    this.expected = 0;
    this.waiting = [];
    waiting.forEach((resolve) => resolve());
  }

  wrap(store: Store): Store {
    const holdConsumes = (adapter: OidcAdapter): OidcAdapter => ({
      upsert: (id, payload, expiresIn) => adapter.upsert(id, payload, expiresIn),
      find: (id) => adapter.find(id),
      findWithGrant: (id) => adapter.findWithGrant(id),
      findByUid: (uid) => adapter.findByUid(uid),
      findByUserCode: (userCode) => adapter.findByUserCode(userCode),
      consume: async (id, reuseWindow) => {
        const failure = this.failure;
        this.failure = undefined;
        if (failure) throw failure;
        await this.arrive();
        return adapter.consume(id, reuseWindow);
      },
      destroy: (id) => adapter.destroy(id),
      revokeByGrantId: (grantId) => adapter.revokeByGrantId(grantId),
    });
    const held = this.model;
    return new Proxy(store, {
      get(target, property) {
        if (property === 'oidcAdapter') {
          return (model: string) => (model === held ? holdConsumes(target.oidcAdapter(model)) : target.oidcAdapter(model));
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}
