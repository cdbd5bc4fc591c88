import type Provider from 'oidc-provider';
import type { Adapter, AdapterPayload, Client, ClientMetadata } from 'oidc-provider';
import type { ClientRecord, ClientService } from '../clients/service.js';
import { REFRESH_CHAIN_DEFAULT, SECRET_AUTH_METHODS } from '../clients/schema.js';
import { grantableFrom, listedResources } from '../resources/indicators.js';
import type { GrantableResources } from './client-extras.js';
import type { Resource, ResourceService } from '../resources/service.js';
import { CIBA_GRANT_TYPE } from '../ciba/hooks.js';


/**
 * oidc-provider requires exactly one `tls_client_auth_*` value for tls_client_auth; a client
 * that registers no subject DN attributes gets this one, which our certificateSubjectMatches
 * hook treats as "any subject from the client's CA".
 */
export const ANY_SUBJECT_DN = 'any';


/** Maps a managed client onto oidc-provider client metadata. */
export function toProviderMetadata(client: ClientRecord, resourceServers: GrantableResources): ClientMetadata {
  const isPublic = client.pkce === 'enforce_instead_of_secret';
  const usesSecret = !isPublic && (SECRET_AUTH_METHODS as readonly string[]).includes(client.token_endpoint_auth_method);
  const digests = client.secrets.map((s) => s.digest);
  // absent on clients saved before CIBA existed
  const ciba = client.ciba_authorization?.enabled ? client.ciba_authorization : undefined;
  return {
    client_id: client.client_id,
    client_name: client.name,
    // only ever compared through compareClientSecret (digest vs HMAC of the presented secret)
    client_secret: usesSecret ? digests[0] ?? 'no-active-secret' : undefined,
    application_type: client.client_type,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris,
    grant_types: ciba ? [...client.grant_types, CIBA_GRANT_TYPE] : client.grant_types,
    backchannel_token_delivery_mode: ciba ? 'poll' : undefined,
    response_types: client.grant_types.includes('authorization_code') ? ['code'] : [],
    // an empty list can only be a machine (client_credentials) client: no user scopes apply
    scope: client.scopes.length ? client.scopes.join(' ') : undefined,
    token_endpoint_auth_method: isPublic ? 'none' : client.token_endpoint_auth_method,
    jwks: (client.jwks ?? undefined) as ClientMetadata['jwks'],
    tls_client_auth_subject_dn: client.token_endpoint_auth_method === 'tls_client_auth'
      ? client.tls_client_auth_subject_dn ?? ANY_SUBJECT_DN : undefined,
    dpop_bound_access_tokens: client.token_binding === 'dpop',
    tls_client_certificate_bound_access_tokens: client.token_binding === 'mtls',
    require_pushed_authorization_requests: client.require_par,
    id_token_encrypted_response_alg: client.id_token_encryption_alg ?? undefined,
    id_token_encrypted_response_enc: client.id_token_encryption_alg ? client.id_token_encryption_enc : undefined,
    // FAPI 2.0 allows PS256, ES256 and EdDSA only
    id_token_signed_response_alg: client.enforce_fapi2 ? 'ES256' : undefined,
    app_id: client.app_id,
    third_party: client.third_party,
    consent_uris: client.consent_uris,
    pkce_mode: client.pkce,
    secret_digests: digests,
    access_token_ttl: client.access_token_ttl,
    refresh_token_ttl: client.refresh_token_ttl,
    session_ttl: client.session_ttl,
    consent_ttl: client.consent_ttl,
    roles: client.roles,
    tls_client_auth_ca: client.tls_client_auth_ca,
    same_site: client.same_site,
    enforce_fapi2: client.enforce_fapi2,
    resource_servers: resourceServers,
    id_token_claims: client.id_token_claims,
    userinfo_claims: client.userinfo_claims,
    userinfo_includes_id_token_claims: client.userinfo_includes_id_token_claims,
    allowed_prompts: client.allowed_prompts,
    max_refresh_token_ttl: client.max_refresh_token_ttl ?? Math.max(REFRESH_CHAIN_DEFAULT, client.refresh_token_ttl),
    ciba_login_uri: ciba?.login_uri ?? undefined,
    refresh_token_reuse_interval: client.refresh_token_reuse_interval ?? 0,
  };
}

/**
 * Read-only Client adapter over the management API's records (dynamic registration is off).
 * For unchanged inputs (the cached client record and resource records) `find` returns the
 * very same metadata object, which is what `memoizeClientInstances` keys on.
 */
export function clientAdapter(clients: ClientService, resources: ResourceService): Adapter {
  const readOnly = async () => { throw new Error('clients are managed through /v1/applications/{appId}/clients'); };
  const built = new WeakMap<ClientRecord, { listed: Array<Resource | undefined>; metadata: AdapterPayload }>();
  return {
    async find(id: string) {
      const record = await clients.find(id);
      if (!record) return undefined;
      const listed = await listedResources(resources, record);
      const known = built.get(record);
      if (known && known.listed.length === listed.length && known.listed.every((resource, i) => resource === listed[i])) return known.metadata;
      const metadata = toProviderMetadata(record, grantableFrom(record, listed)) as AdapterPayload;
      built.set(record, { listed, metadata });
      return metadata;
    },
    upsert: readOnly,
    destroy: readOnly,
    consume: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    revokeByGrantId: async () => undefined,
  };
}

/**
 * oidc-provider's `Client.find` serialises and SHA-256-hashes the adapter's metadata on every
 * call to find its cached Client instance (callgrind: ~5% of a client_credentials request's
 * instructions with our metadata, which carries claims lists and CA certificates). The
 * instance is memoised here per metadata object instead; a changed client or resource yields
 * a new object (see clientAdapter) and so goes through the library's own lookup again.
 */
export function memoizeClientInstances(provider: Provider, adapter: Adapter): void {
  const { Client } = provider;
  const libraryFind = Client.find.bind(Client);
  const instances = new WeakMap<object, Client>();
  Client.find = async (id: string) => {
    const metadata = typeof id === 'string' && id ? await adapter.find(id) : undefined;
    if (!metadata) return libraryFind(id);
    const known = instances.get(metadata);
    if (known) return known;
    const client = await libraryFind(id);
    if (client) instances.set(metadata, client);
    return client;
  };
}
