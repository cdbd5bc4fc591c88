import type { Adapter } from 'oidc-provider';

/** How long an expired device code or backchannel request stays readable. */
export const EXPIRED_REQUEST_RETENTION = 600;

/** Requests a client polls for, whose expiry the client must be told about. */
const POLLED_MODELS = new Set(['DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * oidc-provider answers `expired_token` to a polling client (and "expired" on the device code
 * page) only while it can still read the expired request; the stores drop a record the moment
 * its TTL runs out, which would turn that into "unknown" (`invalid_grant`). These records are
 * kept a while longer; the library still judges expiry by the record's own `exp`. Other models
 * pass through unchanged.
 */
export function keepExpiredPolledRequests(model: string, adapter: Adapter): Adapter {
  if (!POLLED_MODELS.has(model)) return adapter;
  return {
    // a polled request always has a lifetime; one saved after expiry gets a negative one
    upsert: (id, payload, expiresIn) => adapter.upsert(id, payload, Math.max(1, (expiresIn ?? 0) + EXPIRED_REQUEST_RETENTION)),
    find: (id) => adapter.find(id),
    findByUserCode: (userCode) => adapter.findByUserCode(userCode),
    findByUid: (uid) => adapter.findByUid(uid),
    consume: (id) => adapter.consume(id),
    destroy: (id) => adapter.destroy(id),
    revokeByGrantId: (grantId) => adapter.revokeByGrantId(grantId),
  };
}
