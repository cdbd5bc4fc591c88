import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import type { OidcAdapter } from '../../adapters/store.js';

/**
 * One round trip fewer per token request: the authorization_code and refresh_token grants
 * read the code or token, then its Grant (validateGrant). At the token endpoint the code's or
 * token's adapter reads both at once and keeps the Grant for the Grant adapter's next find of
 * that id in the same request; any other find, a second one, or one after a write of that
 * Grant goes to the store. The Grant read is the read the library makes a moment later, so
 * nothing is served that the request could not have seen anyway. Elsewhere (introspection of
 * mostly access tokens) the extra read would cost more than it saves.
 */
const prefetched = new WeakMap<object, Map<string, AdapterPayload | undefined>>();

/** A code's or token's adapter, reading its Grant along with it at the token endpoint. */
export function withGrantPrefetch(tokens: OidcAdapter): OidcAdapter {
  return {
    async find(id) {
      const ctx = Provider.ctx;
      if (ctx?.oidc.route !== 'token') return tokens.find(id);
      const { record, grant } = await tokens.findWithGrant(id);
      if (typeof record?.grantId === 'string') {
        let grants = prefetched.get(ctx);
        if (!grants) prefetched.set(ctx, grants = new Map());
        grants.set(record.grantId, grant);
      }
      return record;
    },
    findWithGrant: (id) => tokens.findWithGrant(id),
    consume: (id, reuseWindow) => tokens.consume(id, reuseWindow),
    upsert: (id, payload, expiresIn) => tokens.upsert(id, payload, expiresIn),
    findByUid: (uid) => tokens.findByUid(uid),
    findByUserCode: (userCode) => tokens.findByUserCode(userCode),
    destroy: (id) => tokens.destroy(id),
    revokeByGrantId: (grantId) => tokens.revokeByGrantId(grantId),
  };
}

function forget(grantId: string): void {
  const ctx = Provider.ctx;
  if (ctx) prefetched.get(ctx)?.delete(grantId);
}

/** The Grant adapter, answering a find from the grant read with this request's token (once). */
export function prefetchedGrants(grants: Adapter): Adapter {
  return {
    async find(id) {
      const ctx = Provider.ctx;
      const known = ctx && prefetched.get(ctx);
      if (known?.has(id)) {
        const grant = known.get(id);
        known.delete(id);
        return grant;
      }
      return grants.find(id);
    },
    // a write in the same request makes the prefetched copy stale
    upsert: (id, payload, expiresIn) => { forget(id); return grants.upsert(id, payload, expiresIn); },
    destroy: (id) => { forget(id); return grants.destroy(id); },
    consume: (id) => grants.consume(id),
    findByUid: (uid) => grants.findByUid(uid),
    findByUserCode: (userCode) => grants.findByUserCode(userCode),
    revokeByGrantId: (grantId) => grants.revokeByGrantId(grantId),
  };
}
