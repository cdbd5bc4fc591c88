import type { Adapter } from 'oidc-provider';
import { isAlreadyConsumed } from '../../adapters/consume-error.js';

/**
 * oidc-provider treats a second use of a code or refresh token as theft: seen as `consumed`
 * when read, it revokes the whole grant (helpers/grant_source.js, grants/refresh_token.js).
 * Two uses racing both read it unused, and our stores' atomic consume refuses the second one
 * (adapters/consume-error.ts) without that revocation. These make the loser of such a race
 * end the grant as a sequential reuse does.
 */

/** Ends a grant and everything issued under it (lib/grants/service.ts revokeGrant). */
export type RevokeGrant = (grantId: string) => Promise<void>;

/** A single-use model's adapter whose lost consume revokes the record's grant. */
export function revokingLostConsumes(records: Adapter, revokeGrant: RevokeGrant): Adapter {
  return {
    async consume(id) {
      try {
        await records.consume(id);
      } catch (err) {
        // a store failure (the consume may even have happened) is no reuse: nothing is revoked
        if (!isAlreadyConsumed(err)) throw err;
        // consumed-at and grantId never change once set: reading them after the refusal is safe
        const grantId = (await records.find(id))?.grantId;
        if (typeof grantId === 'string') await revokeGrant(grantId);
        throw err;
      }
    },
    find: (id) => records.find(id),
    upsert: (id, payload, expiresIn) => records.upsert(id, payload, expiresIn),
    findByUid: (uid) => records.findByUid(uid),
    findByUserCode: (userCode) => records.findByUserCode(userCode),
    destroy: (id) => records.destroy(id),
    revokeByGrantId: (grantId) => records.revokeByGrantId(grantId),
  };
}
