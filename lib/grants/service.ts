import type { Adapter, AdapterPayload } from 'oidc-provider';
import { GRANTABLE_MODELS, type Store } from '../../adapters/store.js';

/*
 * Keys (below the store prefix):
 *   grants-of-account:<accountId>        ids of the account's oidc-provider Grants
 *   grants-of-client:<clientId>          ids of the client's Grants (user tokens)
 *   client-credentials-of:<clientId>     ids of the client's own client_credentials tokens
 * Each set lives as long as its longest-lived member (setAdd with the record's TTL); members
 * whose record expired stay until then, and revoking one that is gone changes nothing.
 */
const grantsOfAccount = (accountId: string) => `grants-of-account:${accountId}`;
const grantsOfClient = (clientId: string) => `grants-of-client:${clientId}`;
const clientCredentialsOf = (clientId: string) => `client-credentials-of:${clientId}`;

const stringField = (payload: AdapterPayload, field: string) => (typeof payload[field] === 'string' ? payload[field] as string : undefined);

/**
 * Ends a grant: the Grant record first (every token of it is refused from then on, since
 * oidc-provider checks the grant on every use), then each code and token under it. The one
 * way grants are revoked (consents, sessions, users, clients).
 */
export async function revokeGrant(store: Store, grantId: string): Promise<void> {
  await store.oidcAdapter('Grant').destroy(grantId);
  await Promise.all([...GRANTABLE_MODELS].map((model) => store.oidcAdapter(model).revokeByGrantId(grantId)));
}

/**
 * Grants (what a user let a client have, and so every code, access and refresh token under
 * it) and client_credentials tokens, found by account and by client. oidc-provider has no
 * query by account or client, so the adapters of those two models are decorated to index
 * each record as it is saved.
 */
export class GrantService {
  constructor(private readonly store: Store) {}

  /** The adapter of `model`, indexing Grants by account and client, client_credentials tokens by client. */
  indexing(model: string, adapter: Adapter): Adapter {
    if (model !== 'Grant' && model !== 'ClientCredentials') return adapter;
    const indexesOf = (payload: AdapterPayload): string[] => {
      const accountId = stringField(payload, 'accountId');
      const clientId = stringField(payload, 'clientId');
      if (model === 'ClientCredentials') return clientId ? [clientCredentialsOf(clientId)] : [];
      return [...(accountId ? [grantsOfAccount(accountId)] : []), ...(clientId ? [grantsOfClient(clientId)] : [])];
    };
    const { store } = this;
    return {
      // the record, then its index entries: a record is never indexed before it exists, and
      // one saved while its index was being revoked stays indexed for the next revocation
      async upsert(id, payload, expiresIn) {
        await adapter.upsert(id, payload, expiresIn);
        await Promise.all(indexesOf(payload).map((key) => store.setAdd(key, id, expiresIn)));
      },
      find: (id) => adapter.find(id),
      findByUid: (uid) => adapter.findByUid(uid),
      findByUserCode: (userCode) => adapter.findByUserCode(userCode),
      consume: (id) => adapter.consume(id),
      destroy: (id) => adapter.destroy(id),
      revokeByGrantId: (grantId) => adapter.revokeByGrantId(grantId),
    };
  }

  async revoke(grantId: string): Promise<void> {
    await revokeGrant(this.store, grantId);
  }

  /** Every grant of the account, with all its tokens, whichever client, session or consent it came from. */
  async revokeAllOfAccount(accountId: string): Promise<void> {
    await this.revokeIndexed(grantsOfAccount(accountId));
  }

  /** Every grant of the client (its users' tokens) and its own client_credentials tokens. */
  async revokeAllOfClient(clientId: string): Promise<void> {
    await this.revokeIndexed(grantsOfClient(clientId));
    const credentials = this.store.oidcAdapter('ClientCredentials');
    const key = clientCredentialsOf(clientId);
    await Promise.all((await this.store.setMembers(key)).map(async (id) => {
      await credentials.destroy(id);
      await this.store.setRemove(key, id);
    }));
  }

  /** Revokes each grant an index names, then forgets it there (never the whole set: a grant added meanwhile stays indexed). */
  private async revokeIndexed(key: string): Promise<void> {
    await Promise.all((await this.store.setMembers(key)).map(async (grantId) => {
      await this.revoke(grantId);
      await this.store.setRemove(key, grantId);
    }));
  }
}
