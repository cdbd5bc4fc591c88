import type { Adapter } from 'oidc-provider';

/** How long an expired backchannel request is still known: a client polling late learns it expired. */
export const EXPIRED_REQUEST_GRACE = 600;

/**
 * The store drops a record when it expires, which would turn the `expired_token` answer
 * CIBA requires into `invalid_grant` (request not found). Records of this adapter are kept
 * `EXPIRED_REQUEST_GRACE` seconds longer; oidc-provider still judges expiry by the record's
 * own `exp`, so an expired request is answered `expired_token` and can no longer be completed.
 */
export function keepExpiredRequests(adapter: Adapter): Adapter {
  return {
    upsert: (id, payload, expiresIn) => adapter.upsert(id, payload, expiresIn && expiresIn + EXPIRED_REQUEST_GRACE),
    find: (id) => adapter.find(id),
    findByUid: (uid) => adapter.findByUid(uid),
    findByUserCode: (userCode) => adapter.findByUserCode(userCode),
    consume: (id) => adapter.consume(id),
    destroy: (id) => adapter.destroy(id),
    revokeByGrantId: (grantId) => adapter.revokeByGrantId(grantId),
  };
}
