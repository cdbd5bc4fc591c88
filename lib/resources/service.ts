import type { Store } from '../../adapters/index.js';
import type { TtlConfig } from '../config.js';
import { ApiError, conflict, notFound } from '../http/errors.js';
import { requireObject, validateBody } from '../http/validate.js';
import type { ClientService } from '../clients/service.js';
import { epochSeconds } from '../time.js';
import { uuidv7 } from '../ids.js';
import { NotifiedCache } from '../notified-cache.js';
import { changeRecord } from '../records.js';
import { resourceSchema, type ResourceSettings } from './schema.js';

export interface Resource extends ResourceSettings {
  resource_id: string;
  app_id: string;
  created_at: number;
  updated_at: number;
}

const resourceKey = (id: string) => `resource:${id}`;
const appResourcesKey = (appId: string) => `app-resources:${appId}`;
/** Unique index: a resource indicator names one resource in the tenant (exact string). */
const uriKey = (uri: string) => `resource-by-uri:${uri}`;

/**
 * Resources (APIs) of an application that clients request access to with the `resource`
 * parameter (RFC 8707); each sets the lifetime of the tokens issued for it. The protocol reads
 * them on every request of a client that lists resources, so `findByUri` is cached per
 * process and every write drops the copies of all instances.
 */
export class ResourceService {
  private readonly schema: ReturnType<typeof resourceSchema>;
  private readonly cache: NotifiedCache<Resource>;

  constructor(
    private readonly store: Store,
    private readonly clients: ClientService,
    oidcScopes: readonly string[],
    private readonly ttl: Pick<TtlConfig, 'refreshToken'>,
  ) {
    this.schema = resourceSchema(oidcScopes);
    this.cache = new NotifiedCache(store, 'resources:changed');
  }

  start(): Promise<void> {
    return this.cache.start();
  }

  /** Cached read used by the protocol layer. */
  findByUri(uri: string): Promise<Resource | undefined> {
    return this.cache.get(uri, () => this.loadByUri(uri));
  }

  async create(appId: string, input: unknown): Promise<Resource> {
    const settings = validateBody(this.schema, { refresh_token_ttl: this.ttl.refreshToken, scopes: [], ...requireObject(input) });
    const resource: Resource = {
      ...settings, resource_id: uuidv7(), app_id: appId, created_at: epochSeconds(), updated_at: epochSeconds(),
    };
    await this.claimUri(resource);
    await this.store.putJSON(resourceKey(resource.resource_id), resource);
    await this.store.setAdd(appResourcesKey(appId), resource.resource_id);
    await this.cache.invalidate(resource.uri);
    return resource;
  }

  async get(appId: string, resourceId: string): Promise<Resource> {
    const resource = await this.store.getJSON<Resource>(resourceKey(resourceId));
    if (!resource || resource.app_id !== appId) throw notFound('Resource');
    return resource;
  }

  async list(appId: string): Promise<Resource[]> {
    const ids = await this.store.setMembers(appResourcesKey(appId));
    const resources = await this.store.getManyJSON<Resource>(ids.map(resourceKey));
    // ids are time-ordered (UUIDv7): creation order to the millisecond
    return resources.filter((r): r is Resource => r !== undefined).sort((a, b) => a.resource_id.localeCompare(b.resource_id));
  }

  /**
   * Merges a partial body onto the freshest record (changeRecord: never over a newer change
   * or a deletion). A new URI must be free, and the old one no longer listed by a client; it
   * is claimed before the write and given back if the write does not happen, and the URI the
   * write replaced is given back after it.
   */
  async update(appId: string, resourceId: string, patch: unknown): Promise<Resource> {
    const changes = requireObject(patch);
    const claimed = new Set<string>();
    let lastSeen: Resource | undefined;
    let changed;
    try {
      changed = await changeRecord<Resource>(this.store, resourceKey(resourceId), async (current) => {
        if (current.app_id !== appId) throw notFound('Resource');
        lastSeen = current;
        const { resource_id: _id, app_id: _app, created_at: _c, updated_at: _u, ...settings } = current;
        const next: Resource = { ...current, ...validateBody(this.schema, { ...settings, ...changes }), updated_at: epochSeconds() };
        if (next.uri !== current.uri) {
          await this.refuseIfListed(current);
          await this.claimUri(next);
          claimed.add(next.uri);
        }
        return next;
      });
    } finally {
      // claims this update made that the record (as last seen, or written) does not hold
      const holds = changed?.after.uri ?? lastSeen?.uri;
      await Promise.all([...claimed].filter((uri) => uri !== holds).map((uri) => this.store.release(uriKey(uri), resourceId)));
    }
    if (!changed) throw notFound('Resource');
    const { before, after } = changed;
    if (after.uri !== before.uri) {
      await this.store.release(uriKey(before.uri), resourceId);
      await this.cache.invalidate(after.uri);
    }
    await this.cache.invalidate(before.uri);
    return after;
  }

  /** A resource still listed by a client of the application cannot be deleted (409). */
  async delete(appId: string, resourceId: string): Promise<void> {
    const resource = await this.get(appId, resourceId);
    await this.refuseIfListed(resource);
    if (!(await this.remove(resourceId))) throw notFound('Resource');
  }

  /** With its application: its clients are gone already. */
  async deleteAllOfApp(appId: string): Promise<void> {
    for (const resource of await this.list(appId)) await this.remove(resource.resource_id);
    await this.store.delete([appResourcesKey(appId)]);
  }

  /**
   * The `resources` of a client's settings (POST or PUT body) must name resources of the same
   * application: a 400 naming the first entry that does not. The shape is the client schema's.
   */
  async checkClientResources(appId: string, body: unknown): Promise<void> {
    const listed = (body as { resources?: unknown } | null)?.resources;
    if (!Array.isArray(listed)) return;
    for (const [i, uri] of listed.entries()) {
      if (typeof uri !== 'string') continue;
      if ((await this.loadByUri(uri))?.app_id !== appId) {
        throw new ApiError(400, `resources[${i}]: no resource with this URI in this application`);
      }
    }
  }

  private async loadByUri(uri: string): Promise<Resource | undefined> {
    const id = await this.store.lookup(uriKey(uri));
    return id ? this.store.getJSON<Resource>(resourceKey(id)) : undefined;
  }

  private async claimUri(resource: Resource): Promise<void> {
    if (!(await this.store.claim(uriKey(resource.uri), resource.resource_id))) throw conflict('uri is already used by another resource');
  }

  private async refuseIfListed(resource: Resource): Promise<void> {
    const client = (await this.clients.list(resource.app_id)).find((c) => (c.resources ?? []).includes(resource.uri));
    if (client) throw conflict(`resource is listed by client ${client.client_id}; remove it from the client's resources first`);
  }

  /**
   * Takes the record, so a change still under way finds nothing (a delete wins), and gives
   * back the URI the record held when taken; false when it was gone already.
   */
  private async remove(resourceId: string): Promise<boolean> {
    const resource = await this.store.takeJSON<Resource>(resourceKey(resourceId));
    if (!resource) return false;
    await this.store.setRemove(appResourcesKey(resource.app_id), resource.resource_id);
    await this.store.release(uriKey(resource.uri), resource.resource_id);
    await this.cache.invalidate(resource.uri);
    return true;
  }
}
