import type { Store } from '../adapters/index.js';
import { conflict } from './http/errors.js';

/** Attempts before a change that keeps losing to concurrent writers gives up (409). */
const MAX_ATTEMPTS = 10;

export interface Changed<T> {
  /** the stored document the change was applied to, as it was right before the write */
  before: T;
  after: T;
}

/**
 * Changes a stored document (one without a TTL) without writing back a stale copy: reads it
 * with its revision, applies `change` to that copy, and writes the result only if nothing was
 * written meanwhile (Store.replaceJSON), else reads again and re-applies. Undefined when the
 * document is absent, including deleted while the change ran: a deletion always wins.
 *
 * `change` runs once per attempt, so it must be quick and safe to repeat (idempotent claims
 * are fine): do slow work such as password hashing before. Returning `current` itself
 * writes nothing.
 */
export async function changeRecord<T>(
  store: Store,
  key: string,
  change: (current: T) => T | Promise<T>,
): Promise<Changed<T> | undefined> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    const read = await store.readJSON<T>(key);
    if (!read) return undefined;
    const after = await change(read.value);
    if (after === read.value || await store.replaceJSON(key, read.revision, after)) return { before: read.value, after };
  }
  throw conflict('The record is being changed by other requests; try again');
}
