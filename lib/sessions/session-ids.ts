import type { Adapter, AdapterPayload } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Store } from '../../adapters/index.js';

type Session = InstanceType<Provider['Session']>;

/*
 * What apps call `session_id` is a `sid` of the IdP session: the one oidc-provider gives each
 * client of a session (21 random characters, never the browser cookie's value) and puts in
 * that client's ID tokens. The backend methods return the calling client's sid; a browser
 * sign-in's ID token carries it too, so an app can hand the session on to /v1/auth/session
 * whichever way it was created. oidc-provider finds sessions only by cookie id or uid, so the
 * Session adapter is decorated to keep `session-sid:<sid> -> uid` for as long as the session lives.
 */

const sidKey = (sid: string) => `session-sid:${sid}`;

function sidsOf(payload: AdapterPayload): string[] {
  const authorizations = (payload.authorizations ?? {}) as Record<string, { sid?: string }>;
  return Object.values(authorizations).map((a) => a.sid).filter((sid): sid is string => typeof sid === 'string');
}

/** The Session adapter, also indexing each sid of a saved session (same TTL as the session). */
export function indexingSessionIds(store: Store, sessions: Adapter): Adapter {
  return {
    async upsert(id, payload, expiresIn) {
      // side by side: a sid pointing at a uid whose session is not saved finds nothing
      const uid = typeof payload.uid === 'string' ? payload.uid : undefined;
      await Promise.all([
        sessions.upsert(id, payload, expiresIn),
        ...(uid ? sidsOf(payload).map((sid) => store.putJSON(sidKey(sid), uid, expiresIn)) : []),
      ]);
    },
    find: (id) => sessions.find(id),
    findByUid: (uid) => sessions.findByUid(uid),
    findByUserCode: (userCode) => sessions.findByUserCode(userCode),
    consume: (id) => sessions.consume(id),
    destroy: (id) => sessions.destroy(id),
    revokeByGrantId: (grantId) => sessions.revokeByGrantId(grantId),
  };
}

/**
 * The signed-in, unexpired session a sid names. An app that left the session alone
 * (RP-initiated logout without `logout=yes`) no longer holds its sid there, so that sid no
 * longer names it.
 */
export async function findSessionBySid(provider: Provider, store: Store, sid: string): Promise<Session | undefined> {
  const uid = await store.getJSON<string>(sidKey(sid));
  const session = uid ? await provider.Session.findByUid(uid) : undefined;
  if (!session?.accountId) return undefined;
  return Object.values(session.authorizations ?? {}).some((a) => a.sid === sid) ? session : undefined;
}
