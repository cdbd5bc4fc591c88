import type { Adapter } from 'oidc-provider';

/** How long an expired device code stays readable after its `expires_in`. */
export const EXPIRED_CODE_RETENTION = 600;

/**
 * oidc-provider answers `expired_token` to a polling device, and "expired" on the code page,
 * only while it can still read the expired device code; the stores drop a record the moment
 * its TTL runs out, which would turn both into "unknown code" (`invalid_grant`, and a wrong
 * guess on the page). Device codes (and their user-code lookup) are therefore kept a while
 * longer; the library itself refuses them as expired. Other models pass through unchanged.
 */
export function keepExpiredDeviceCodes(model: string, adapter: Adapter): Adapter {
  if (model !== 'DeviceCode') return adapter;
  return {
    // a device code always has a lifetime; one saved after expiry gets a negative one
    upsert: (id, payload, expiresIn) => adapter.upsert(id, payload, Math.max(1, (expiresIn ?? 0) + EXPIRED_CODE_RETENTION)),
    find: (id) => adapter.find(id),
    findByUserCode: (userCode) => adapter.findByUserCode(userCode),
    findByUid: (uid) => adapter.findByUid(uid),
    consume: (id) => adapter.consume(id),
    destroy: (id) => adapter.destroy(id),
    revokeByGrantId: (grantId) => adapter.revokeByGrantId(grantId),
  };
}
