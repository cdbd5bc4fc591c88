/*
 * Shared vocabulary of the client model as oidc-provider carries it, kept in a leaf that
 * imports nothing of ours, so that the capabilities whose hooks read a client (CIBA,
 * resources, policies) and the client adapter that builds it do not import each other.
 */

/** Our own client settings that oidc-provider carries on its Client instances. */
export const EXTRA_CLIENT_METADATA = [
  'app_id', 'third_party', 'consent_uris', 'pkce_mode', 'secret_digests',
  'access_token_ttl', 'refresh_token_ttl', 'session_ttl', 'consent_ttl', 'roles',
  'tls_client_auth_ca', 'same_site', 'enforce_fapi2',
  'resource_servers',
  'id_token_claims', 'userinfo_claims', 'userinfo_includes_id_token_claims', 'allowed_prompts', 'max_refresh_token_ttl',
  'ciba_login_uri', 'refresh_token_reuse_interval',
] as const;

/** What the protocol needs of a resource a client may request. */
export interface GrantableResource {
  access_token_ttl: number;
  refresh_token_ttl: number;
  scopes: string[];
}

/** A client's grantable resources keyed by URI (the resource indicator). */
export type GrantableResources = Record<string, GrantableResource>;

/** The subset of a Client instance our hooks read (extra metadata keeps its snake_case name). */
export interface ClientExtras {
  clientId: string;
  clientAuthMethod?: string;
  app_id?: string;
  third_party?: boolean;
  consent_uris?: string[];
  consent_ttl?: number;
  pkce_mode?: string;
  secret_digests?: string[];
  access_token_ttl?: number;
  refresh_token_ttl?: number;
  max_refresh_token_ttl?: number;
  /** absent on clients saved before it existed: 0 */
  refresh_token_reuse_interval?: number;
  session_ttl?: number;
  roles?: string[];
  tls_client_auth_ca?: string | null;
  same_site?: 'lax' | 'none';
  enforce_fapi2?: boolean;
  resource_servers?: GrantableResources;
  id_token_claims?: string[];
  userinfo_claims?: string[];
  userinfo_includes_id_token_claims?: boolean;
  /** absent on clients saved before it existed: every prompt value */
  allowed_prompts?: string[];
  /** set when CIBA is enabled: where backchannel auth links point */
  ciba_login_uri?: string;
}
