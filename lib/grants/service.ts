import type { AdapterPayload } from 'oidc-provider';
import { GRANTABLE_MODELS, type Store } from '../../adapters/store.js';

/*
 * Keys (below the store prefix):
 *   grants-of-account:<accountId>        ids of the account's oidc-provider Grants
 *   grants-of-client:<clientId>          ids of the client's Grants (user tokens)
 *   client-credentials-of:<clientId>     ids of the client's own client_credentials tokens
 * Each set lives as long as its longest-lived member (written with the record, setAdd's rule); members
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
 * query by account or client, so the store indexes each record of those two models in the
 * same step as it saves it (Store.indexOidcRecords).
 */
export class GrantService {
  /** Registers the indexes with the store: every Grant and client_credentials token saved from now on joins them. */
  constructor(private readonly store: Store) {
    store.indexOidcRecords('Grant', (payload) => {
      const accountId = stringField(payload, 'accountId');
      const clientId = stringField(payload, 'clientId');
      return [...(accountId ? [grantsOfAccount(accountId)] : []), ...(clientId ? [grantsOfClient(clientId)] : [])];
    });
    store.indexOidcRecords('ClientCredentials', (payload) => {
      const clientId = stringField(payload, 'clientId');
      return clientId ? [clientCredentialsOf(clientId)] : [];
    });
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
