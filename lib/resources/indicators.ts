import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientRecord } from '../clients/service.js';
import type { ClientExtras, GrantableResource, GrantableResources } from '../provider/client-extras.js';
import type { Resource, ResourceService } from './service.js';


/**
 * The client's `resources` that exist in its application, resolved whenever oidc-provider
 * loads the client (once per request). They travel on the Client instance because the
 * `ttl.*` hooks are synchronous and a rotated refresh token's lifetime is computed before
 * the request's resource is looked up.
 */
export async function grantableResources(resources: ResourceService, client: ClientRecord): Promise<GrantableResources> {
  return grantableFrom(client, await listedResources(resources, client));
}

/** The records of the resources a client lists (undefined where none exists), from the per-process cache. */
export function listedResources(resources: ResourceService, client: ClientRecord): Promise<Array<Resource | undefined>> {
  return Promise.all((client.resources ?? []).map((uri) => resources.findByUri(uri)));
}

export function grantableFrom(client: ClientRecord, listed: ReadonlyArray<Resource | undefined>): GrantableResources {
  const found: GrantableResources = {};
  (client.resources ?? []).forEach((uri, i) => {
    const resource = listed[i];
    if (resource?.app_id !== client.app_id) return;
    const { access_token_ttl, refresh_token_ttl, scopes } = resource;
    found[uri] = { access_token_ttl, refresh_token_ttl, scopes };
  });
  return found;
}

/** The client's grantable resource with this URI (own keys only: the URI comes from the request). */
function grantable(client: unknown, uri: string): GrantableResource | undefined {
  const servers = (client as ClientExtras | undefined)?.resource_servers;
  return servers && Object.hasOwn(servers, uri) ? servers[uri] : undefined;
}

type ResourceIndicators = NonNullable<NonNullable<Configuration['features']>['resourceIndicators']>;

/**
 * `features.resourceIndicators` (RFC 8707): a client may request one of its resources per
 * request; the access token is opaque, its audience the resource URI, its scopes those of the
 * resource that were granted, its lifetime the resource's. Without `resource` the library's
 * default applies (a token for userinfo).
 */
export function resourceIndicators(): ResourceIndicators {
  return {
    enabled: true,
    // code and refresh token exchanges get a token for the resource of the authorization
    // request without repeating it (openid-client sends no `resource` there)
    useGrantedResource: () => true,
    getResourceServerInfo: (ctx: KoaContextWithOIDC, indicator: string, client) => {
      const requested = ctx.oidc.params?.resource;
      if (Array.isArray(requested) && requested.length > 1) throw new errors.InvalidTarget('only one resource may be requested at a time');
      const resource = grantable(client, indicator);
      if (!resource) throw new errors.InvalidTarget('resource is not registered for this client');
      return {
        scope: resource.scopes.join(' '),
        audience: indicator,
        accessTokenTTL: resource.access_token_ttl,
        accessTokenFormat: 'opaque',
      };
    },
  };
}

/** The refresh token lifetime of the resource a token was issued for, if any (a synchronous ttl hook). */
export function resourceRefreshTokenTtl(token: { resource?: string | string[] }, client: unknown): number | undefined {
  return typeof token.resource === 'string' ? grantable(client, token.resource)?.refresh_token_ttl : undefined;
}
