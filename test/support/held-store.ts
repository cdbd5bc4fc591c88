import type { Adapter } from 'oidc-provider';
import type { Store } from '../../adapters/index.js';

/**
 * Holds up to `capacity` calls until `open()`: makes a race happen on every run instead of
 * by luck (requests sent together still reach the store spread out). Calls past the
 * capacity pass at once; `skip` lets that many calls pass before holding starts.
 */
export class Gate {
  private readonly waiting: Array<() => void> = [];
  private opened = false;
  private skip: number;
  private notifyFull!: () => void;
  /** resolves once `capacity` calls are held */
  readonly full = new Promise<void>((resolve) => { this.notifyFull = resolve; });

  constructor(private readonly capacity: number, options: { skip?: number } = {}) {
    this.skip = options.skip ?? 0;
  }

  /** Called by a held method: resolves when the gate opens (at once when not held). */
  pass(): Promise<void> {
    if (this.skip > 0) { this.skip -= 1; return Promise.resolve(); }
    if (this.opened || this.waiting.length >= this.capacity) return Promise.resolve();
    const held = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.waiting.length === this.capacity) this.notifyFull();
    return held;
  }

  get held(): number {
    return this.waiting.length;
  }

  open(): void {
    this.opened = true;
    this.waiting.splice(0).forEach((release) => release());
  }
}

/**
 * Which calls to hold: the answers of reads (and takes) of one document, or of `find` of an
 * oidc-provider record, held after the call; or `consume` of one model (held before it runs).
 */
export interface Holds {
  read?: (key: string) => Gate | undefined;
  find?: (model: string, id: string) => Gate | undefined;
  consume?: (model: string) => Gate | undefined;
}

/** the calls whose answer `read` holds: every way a service reads (or takes) one document */
const READS = new Set(['getJSON', 'readJSON', 'takeJSON']);

/** The store with the chosen calls held at their gates before they run (test support only). */
export function holdingStore(store: Store, holds: Holds): Store {
  return new Proxy(store, {
    get(target, name, receiver) {
      const member = Reflect.get(target, name, receiver) as unknown;
      if (typeof member !== 'function') return member;
      if (READS.has(name as string)) {
        // the read is made first and its answer held: the caller goes on with what it read, as if slow
        return async (key: string, ...rest: unknown[]) => {
          const read = await (member as (...args: unknown[]) => Promise<unknown>).call(target, key, ...rest);
          await holds.read?.(key)?.pass();
          return read;
        };
      }
      if (name === 'oidcAdapter') {
        return (model: string) => holdingAdapter((member as (m: string) => Adapter).call(target, model), model, holds);
      }
      return (member as (...args: unknown[]) => unknown).bind(target);
    },
  });
}

function holdingAdapter(adapter: Adapter, model: string, holds: Holds): Adapter {
  return new Proxy(adapter, {
    get(target, name, receiver) {
      const member = Reflect.get(target, name, receiver) as unknown;
      if (typeof member !== 'function') return member;
      if (name === 'consume') {
        return async (id: string) => {
          await holds.consume?.(model)?.pass();
          return target.consume(id);
        };
      }
      if (name === 'find') {
        return async (id: string) => {
          const found = await target.find(id);
          await holds.find?.(model, id)?.pass();
          return found;
        };
      }
      return (member as (...args: unknown[]) => unknown).bind(target);
    },
  });
}
