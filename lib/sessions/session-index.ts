import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Store } from '../../adapters/store.js';
import type { GrantService } from '../grants/service.js';
import { epochSeconds } from '../time.js';

/*
 * What apps call `session_id` is a `sid` of the IdP session: the one oidc-provider gives each
 * client of a session (21 random characters, never the browser cookie's value) and puts in
 * that client's ID tokens. oidc-provider finds sessions only by cookie id or uid, and saves a
 * Session whole from the copy its request read (concurrent sign-ins in one session each write
 * their own copy): saves are merged into the stored record (mergeSaved), and what must never be
 * lost is also kept beside the record, in keys of its own, each as long as the session lives:
 *   session-sid:<sid>               -> uid: the session a sid names
 *   session-grants:<uid>            ids of every Grant ever registered in the session
 *   sessions-of-account:<accountId> uids of the account's sessions
 *   session-ended:<uid>             the session was ended: a later save of it is undone
 *   session-retired:<id>            a record id oidc-provider destroyed (a logout, or a new id after
 *                                   a sign-in or an app leaving): a late save under it is dropped
 */
const sidKey = (sid: string) => `session-sid:${sid}`;
const grantsKey = (uid: string) => `session-grants:${uid}`;
const sessionsOfAccount = (accountId: string) => `sessions-of-account:${accountId}`;
const endedKey = (uid: string) => `session-ended:${uid}`;
const retiredKey = (id: string) => `session-retired:${id}`;

type Authorization = { sid?: string; grantId?: string; persistsLogout?: boolean };

/** The fields of a Session this index reads (a stored payload or a Session instance). */
export interface SessionRecord {
  uid?: unknown;
  accountId?: unknown;
  authorizations?: unknown;
}

/** Compare-and-set rounds a session save may lose to concurrent saves before it simply overwrites. */
const MERGE_ATTEMPTS = 20;

/**
 * A copy of a session saved by oidc-provider, merged into the stored record: the copy's fields
 * win, except that the stored record keeps the entries of clients the copy does not list (the
 * library removes an entry only together with a new session id, so a missing one was added by
 * another request meanwhile), and a later authentication stored meanwhile (loginTs, amr, acr
 * and the expiry that goes with them) is not replaced by an earlier one. Returns the record and its TTL.
 */
function mergeSaved(stored: AdapterPayload, copy: AdapterPayload, expiresIn: number | undefined): [AdapterPayload, number | undefined] {
  const authorizations = { ...(stored.authorizations as object | undefined), ...(copy.authorizations as object | undefined) };
  const merged: AdapterPayload = { ...copy, authorizations };
  const storedLogin = typeof stored.loginTs === 'number' ? stored.loginTs : 0;
  const copyLogin = typeof copy.loginTs === 'number' ? copy.loginTs : 0;
  if (stored.accountId !== copy.accountId || storedLogin <= copyLogin) return [merged, expiresIn];
  const { accountId, loginTs, amr, acr, exp } = stored;
  const ttl = typeof exp === 'number' ? Math.max(1, exp - epochSeconds()) : expiresIn;
  return [{ ...merged, accountId, loginTs, amr, acr, exp }, ttl];
}

const authorizationsOf = (record: SessionRecord) => Object.values((record.authorizations ?? {}) as Record<string, Authorization>);
const stringOf = (value: unknown) => (typeof value === 'string' && value ? value : undefined);

export class SessionIndex {
  private readonly records: Adapter;

  /** `endedTtl`: ttl.session, the longest a session (and so a stale copy of it) can live. */
  constructor(private readonly store: Store, private readonly grants: GrantService, private readonly endedTtl: number) {
    this.records = store.oidcAdapter('Session');
  }

  /**
   * The Session adapter. oidc-provider saves the whole session from the copy its request read;
   * a save merges that copy into the stored record instead (mergeSaved, by compare-and-set), so
   * concurrent authorizations in one browser keep each other's entries. Each save also indexes
   * the session's sids, grants and account, then looks for the end mark: a save of an ended
   * session (a sign-in that raced its logout) is undone, with every grant it registered.
   */
  adapter(): Adapter {
    const { records, store, endedTtl } = this;
    const indexSaved = (id: string, payload: AdapterPayload, expiresIn?: number) => this.indexSaved(id, payload, expiresIn);
    const isEnded = async (payload: AdapterPayload) => {
      const uid = stringOf(payload.uid);
      return Boolean(uid && stringOf(payload.accountId) && await this.isEnded(uid));
    };
    const end = (payload: AdapterPayload) => this.end(undefined, payload);
    // the record as this request read it (oidc-provider reads the session first, saves it last):
    // the first compare-and-set round starts from it instead of reading again; if another save
    // came in between, that round loses and the next reads the record afresh
    const readInRequest = new WeakMap<object, Map<string, AdapterPayload>>();
    const remember = (id: string, payload: AdapterPayload | undefined | void) => {
      const ctx = Provider.ctx;
      if (!ctx) return;
      let read = readInRequest.get(ctx);
      if (!read) readInRequest.set(ctx, read = new Map());
      if (payload) read.set(id, payload); else read.delete(id);
    };
    const takeRemembered = (id: string) => {
      const read = Provider.ctx && readInRequest.get(Provider.ctx);
      const payload = read?.get(id);
      read?.delete(id);
      return payload;
    };
    return {
      async upsert(id, payload, expiresIn) {
        let stored = takeRemembered(id) ?? await records.find(id);
        for (let attempt = 1; ; attempt += 1) {
          // a new session (or a new id: sign-in and leaving rotate it) has nothing to merge with;
          // so does a record every attempt found changed (the last writer wins, as in the library)
          if (!stored || attempt > MERGE_ATTEMPTS) {
            // a copy read before its id was retired must not bring the old record back (with
            // the entry of an app that left it). The mark is written before the destroy, so a
            // save that misses it can only land in the moment between the two
            if (!stored && await store.getJSON(retiredKey(id))) {
              // dropped; if the session was ended (a logout), what the copy was given ends too
              if (await isEnded(payload)) await end(payload);
              return;
            }
            await records.upsert(id, payload, expiresIn);
            await indexSaved(id, payload, expiresIn);
            return;
          }
          const [merged, ttl] = mergeSaved(stored, payload, expiresIn);
          if (await store.replaceOidcRecord('Session', id, stored, merged, ttl)) {
            await indexSaved(id, merged, ttl);
            return;
          }
          stored = await records.find(id);
        }
      },
      async find(id) {
        const found = await records.find(id);
        remember(id, found);
        return found;
      },
      findByUid: (uid) => records.findByUid(uid),
      findByUserCode: (userCode) => records.findByUserCode(userCode),
      consume: (id) => records.consume(id),
      async destroy(id) {
        takeRemembered(id);
        await store.putJSON(retiredKey(id), true, endedTtl);
        await records.destroy(id);
      },
      revokeByGrantId: (grantId) => records.revokeByGrantId(grantId),
    };
  }

  /** The stored session record (as saved, not a Session instance). */
  async record(uid: string): Promise<AdapterPayload | undefined> {
    return await this.records.findByUid(uid) ?? undefined;
  }

  /**
   * Writes `next` over the session record only if the record still is `current` (compare-and-
   * set), and indexes it as a save does: 'conflict' if another write came first, 'ended' if the
   * session was ended meanwhile (the write is then undone with its grants).
   */
  async replace(id: string, current: AdapterPayload, next: AdapterPayload, expiresIn: number): Promise<'saved' | 'conflict' | 'ended'> {
    if (!(await this.store.replaceOidcRecord('Session', id, current, next, expiresIn))) return 'conflict';
    return await this.indexSaved(id, next, expiresIn) ? 'ended' : 'saved';
  }

  /** The uid of the session a sid was given in, if that session may still live. */
  async uidOfSid(sid: string): Promise<string | undefined> {
    return this.store.getJSON<string>(sidKey(sid));
  }

  private async isEnded(uid: string): Promise<boolean> {
    return Boolean(await this.store.getJSON(endedKey(uid)));
  }

  /** After a save: the session's sids, grants and account indexed, then a save of an ended session undone (true). */
  private async indexSaved(id: string, payload: AdapterPayload, expiresIn?: number): Promise<boolean> {
    const uid = stringOf(payload.uid);
    if (!uid) return false;
    const accountId = stringOf(payload.accountId);
    const authorizations = authorizationsOf(payload);
    // the end mark is read after the grants are indexed (an end marked before this read revokes
    // them, one marked after reads them): issued in this order on the store's one connection,
    // in one round trip (ioredis runs a connection's commands in the order they were sent)
    const [ended] = await Promise.all([
      accountId ? this.isEnded(uid) : false,
      ...authorizations.flatMap(({ sid }) => (sid ? [this.store.putJSON(sidKey(sid), uid, expiresIn)] : [])),
      ...authorizations.flatMap(({ grantId }) => (grantId ? [this.store.setAdd(grantsKey(uid), grantId, expiresIn)] : [])),
      ...(accountId ? [this.store.setAdd(sessionsOfAccount(accountId), uid, expiresIn)] : []),
    ]);
    if (ended) await this.end(id, payload);
    return ended;
  }

  /**
   * Ends a session for good, as a logout with `logout=yes` does: marks it ended (first, so a
   * save racing this sees the mark and undoes itself), revokes every grant registered in it
   * except those the record says outlive a logout (oidc-provider's `persistsLogout`, offline
   * access from the browser), then deletes the record.
   */
  async end(id: string | undefined, record: SessionRecord): Promise<void> {
    const uid = stringOf(record.uid);
    if (!uid) return;
    await this.store.putJSON(endedKey(uid), true, this.endedTtl);
    const authorizations = authorizationsOf(record);
    const persisting = new Set(authorizations.filter((a) => a.persistsLogout).map((a) => a.grantId));
    const grantIds = new Set([...await this.store.setMembers(grantsKey(uid)), ...authorizations.flatMap((a) => (a.grantId ? [a.grantId] : []))]);
    await Promise.all([...grantIds].filter((grantId) => !persisting.has(grantId)).map((grantId) => this.grants.revoke(grantId)));
    if (id) await this.records.destroy(id);
  }

  /** Ends every session of the account (its deletion), whichever browser or app signed in. */
  async endAllOf(accountId: string): Promise<void> {
    const key = sessionsOfAccount(accountId);
    await Promise.all((await this.store.setMembers(key)).map(async (uid) => {
      // a session gone already is still marked ended: a stale copy of it saved later is undone
      const record: AdapterPayload = await this.records.findByUid(uid) ?? { uid };
      await this.end(stringOf(record.jti), record);
      await this.store.setRemove(key, uid);
    }));
  }
}
