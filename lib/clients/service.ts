import { randomBytes, randomUUID } from 'node:crypto';
import type { Store } from '../../adapters/index.js';
import type { TtlConfig } from '../config.js';
import { conflict, notFound } from '../http/errors.js';
import { requireObject, validateBody } from '../http/validate.js';
import { clientSettingsSchema, defaultClientSettings, type ClientSettings } from './schema.js';
import { SecretHasher } from './secrets.js';
import { epochSeconds } from '../time.js';
import { caChainId } from './key-material.js';
import { NotifiedCache } from '../notified-cache.js';

export interface StoredSecret {
  secret_id: string;
  digest: string;
  created_at: number;
}

export interface ClientRecord extends ClientSettings {
  client_id: string;
  app_id: string;
  secrets: StoredSecret[];
  created_at: number;
  updated_at: number;
}

/** A new secret, answered once by the rotate endpoint. */
export interface IssuedSecret {
  secret_id: string;
  client_secret: string;
  created_at: number;
}

/** What the API shows: never a digest. */
export type ClientView = Omit<ClientRecord, 'secrets'> & { secrets: Array<Omit<StoredSecret, 'digest'>> };

const CHANGES_CHANNEL = 'clients:changed';
/** Rotation keeps the old secret working until it is retired: two at most (seed 001). */
const MAX_ACTIVE_SECRETS = 2;
/**
 * A caller's permission check on the client as it is when the change runs (inside its lock,
 * so the check and the change see the same roles); throws to refuse.
 */
export type Authorize = (current: ClientRecord) => void;
const allowAll: Authorize = () => {};

/** Longest a change to one client may hold its lock if the instance dies mid-way (seconds). */
const LOCK_TTL = 10;
/** How often a change that waits for the lock (start-up) tries again. */
const LOCK_RETRY_MS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const clientKey = (id: string) => `client:${id}`;
const appClientsKey = (appId: string) => `app-clients:${appId}`;
const clientLockKey = (id: string) => `client-lock:${id}`;
/** clients that authenticate with certificates of one CA chain (tls_client_auth), and the one it is dedicated to */
const caUsersKey = (chain: string) => `client-ca:${chain}`;
const caDedicatedKey = (chain: string) => `client-ca-dedicated:${chain}`;

function caUse(record: ClientRecord | undefined) {
  if (record?.token_endpoint_auth_method !== 'tls_client_auth' || !record.tls_client_auth_ca) return undefined;
  return { clientId: record.client_id, chain: caChainId(record.tls_client_auth_ca), dedicated: !record.tls_client_auth_subject_dn };
}
const isPublic = (record: ClientRecord) => record.pkce === 'enforce_instead_of_secret';

export function clientView({ secrets, ...record }: ClientRecord): ClientView {
  return { ...record, secrets: secrets.map(({ digest: _omit, ...secret }) => secret) };
}

/**
 * Client records. oidc-provider asks for a client on every token request, so reads are
 * cached per process; every write publishes the client id and each instance drops its copy
 * (and the whole cache after a lost subscription), so changes apply everywhere at once.
 */
export class ClientService {
  private readonly cache: NotifiedCache<ClientRecord>;
  private readonly schema: ReturnType<typeof clientSettingsSchema>;
  private readonly defaults: Omit<ClientSettings, 'name'>;

  constructor(
    private readonly store: Store,
    private readonly hasher: SecretHasher,
    scopes: readonly string[],
    ttl: TtlConfig,
  ) {
    this.cache = new NotifiedCache(store, CHANGES_CHANNEL);
    this.schema = clientSettingsSchema(scopes);
    this.defaults = {
      ...defaultClientSettings(scopes),
      access_token_ttl: ttl.accessToken,
      refresh_token_ttl: ttl.refreshToken,
      session_ttl: ttl.session,
      consent_ttl: ttl.consent,
    };
  }

  /** The protocol layer's own metadata rules, applied before a client is saved (a 400 instead of a broken client). */
  private metadataCheck: (record: ClientRecord) => Promise<void> = async () => {};

  checkMetadataWith(check: (record: ClientRecord) => Promise<void>): void {
    this.metadataCheck = check;
  }

  async start(): Promise<void> {
    await this.cache.start();
  }

  /** Cached read used by the protocol layer. */
  async find(clientId: string): Promise<ClientRecord | undefined> {
    return this.cache.get(clientId, () => this.store.getJSON<ClientRecord>(clientKey(clientId)));
  }

  async get(appId: string, clientId: string): Promise<ClientRecord> {
    const record = await this.store.getJSON<ClientRecord>(clientKey(clientId));
    if (!record || record.app_id !== appId) throw notFound('Client');
    return record;
  }

  async list(appId: string): Promise<ClientRecord[]> {
    const ids = await this.store.setMembers(appClientsKey(appId));
    const records = await this.store.getManyJSON<ClientRecord>(ids.map(clientKey));
    return records.filter((r): r is ClientRecord => r !== undefined).sort((a, b) => a.created_at - b.created_at);
  }

  /** Creates a client; the plain secret is returned once and never stored. */
  async create(appId: string, input: unknown, fixed?: { clientId: string; secret: string }): Promise<{ record: ClientRecord; secret?: string }> {
    const settings = validateBody(this.schema, { ...this.defaults, ...requireObject(input) });
    const secret = settings.pkce === 'enforce_instead_of_secret' ? undefined : fixed?.secret ?? SecretHasher.generate();
    const record: ClientRecord = {
      ...settings,
      client_id: fixed?.clientId ?? randomBytes(16).toString('hex'),
      app_id: appId,
      secrets: secret ? [this.newSecret(secret)] : [],
      created_at: epochSeconds(),
      updated_at: epochSeconds(),
    };
    await this.checkCaUse(record);
    await this.save(record);
    await this.indexCaUse(undefined, record);
    await this.store.setAdd(appClientsKey(appId), record.client_id);
    return { record, secret };
  }

  /** Merges a partial body into the stored settings and validates the result as a whole. */
  async update(appId: string, clientId: string, patch: unknown, authorize: Authorize = allowAll): Promise<ClientRecord> {
    return this.exclusive(clientId, async () => {
      const current = await this.get(appId, clientId);
      authorize(current);
      const changes = requireObject(patch);
      const { client_id: _id, app_id: _app, secrets, created_at: _c, updated_at: _u, ...settings } = current;
      // defaults first: records saved before a setting existed take its default
      const merged = validateBody(this.schema, { ...this.defaults, ...settings, ...changes });
      const record: ClientRecord = { ...current, ...merged, secrets, updated_at: epochSeconds() };
      await this.checkCaUse(record);
      await this.save(record);
      await this.indexCaUse(current, record);
      return record;
    });
  }

  /** Adds a secret; the old one keeps working until retired. The plain secret is returned once. */
  async rotateSecret(appId: string, clientId: string, authorize: Authorize = allowAll): Promise<IssuedSecret> {
    return this.exclusive(clientId, async () => {
      const current = await this.get(appId, clientId);
      authorize(current);
      if (isPublic(current)) throw conflict('A public client (pkce enforce_instead_of_secret) has no secrets to rotate');
      if (current.secrets.length >= MAX_ACTIVE_SECRETS) {
        throw conflict(`The client already has ${MAX_ACTIVE_SECRETS} active secrets; retire one (DELETE .../secrets/{secret_id}) before rotating`);
      }
      const plain = SecretHasher.generate();
      const secret = this.newSecret(plain);
      await this.save({ ...current, secrets: [...current.secrets, secret], updated_at: epochSeconds() });
      return { secret_id: secret.secret_id, client_secret: plain, created_at: secret.created_at };
    });
  }

  /** Retires a secret at once, on every instance; a confidential client keeps at least one. */
  async retireSecret(appId: string, clientId: string, secretId: string, authorize: Authorize = allowAll): Promise<void> {
    await this.exclusive(clientId, async () => {
      const current = await this.get(appId, clientId);
      authorize(current);
      if (!current.secrets.some((s) => s.secret_id === secretId)) throw notFound('Secret');
      if (current.secrets.length === 1 && !isPublic(current)) {
        throw conflict('Cannot retire the last secret of a client; rotate first so it keeps a working secret');
      }
      await this.save({ ...current, secrets: current.secrets.filter((s) => s.secret_id !== secretId), updated_at: epochSeconds() });
    });
  }

  /**
   * Bootstrap management client: created, or its secret and role brought in line with the
   * environment. Under the client's lock like every other change, so an instance starting
   * while an admin changes the client (or another instance starts) writes back no stale copy;
   * it waits for the lock rather than fail the start.
   */
  async ensureManagementClient(appId: string, clientId: string, secret: string): Promise<void> {
    await this.exclusive(clientId, async () => {
      const existing = await this.store.getJSON<ClientRecord>(clientKey(clientId));
      if (!existing) {
        await this.create(appId, {
          name: 'IdP management (bootstrap)', grant_types: ['client_credentials'], scopes: [], roles: ['admin'],
        }, { clientId, secret });
        return;
      }
      const secretCurrent = existing.secrets.some((s) => this.hasher.matches(secret, [s.digest]));
      if (secretCurrent && existing.roles.includes('admin')) return;
      await this.save({
        ...existing,
        roles: [...new Set([...existing.roles, 'admin' as const])],
        secrets: secretCurrent ? existing.secrets : [this.newSecret(secret)],
        updated_at: epochSeconds(),
      });
    }, LOCK_TTL * 1000);
  }

  async delete(appId: string, clientId: string, authorize: Authorize = allowAll): Promise<void> {
    await this.exclusive(clientId, async () => {
      const current = await this.get(appId, clientId);
      authorize(current);
      await this.indexCaUse(current, undefined);
      await this.store.delete([clientKey(clientId)]);
      await this.store.setRemove(appClientsKey(appId), clientId);
      await this.cache.invalidate(clientId);
    });
  }

  async deleteAllOfApp(appId: string): Promise<void> {
    for (const record of await this.list(appId)) await this.delete(appId, record.client_id);
    await this.store.delete([appClientsKey(appId)]);
  }

  /**
   * Runs one read-modify-write of a client alone, so a concurrent change (a second rotation, a
   * PUT, a delete) can neither overwrite it nor resurrect a deleted client: it gets 409 instead,
   * or, given `waitMs`, waits that long for the lock first.
   */
  private async exclusive<T>(clientId: string, change: () => Promise<T>, waitMs = 0): Promise<T> {
    const owner = randomUUID();
    const giveUpAt = Date.now() + waitMs;
    while (!(await this.store.createJSON(clientLockKey(clientId), owner, LOCK_TTL))) {
      if (Date.now() >= giveUpAt) throw conflict('The client is being changed by another request; try again');
      await sleep(LOCK_RETRY_MS);
    }
    try {
      return await change();
    } finally {
      // only our own lock: after LOCK_TTL it may already belong to another request
      await this.store.release(clientLockKey(clientId), JSON.stringify(owner));
    }
  }

  /**
   * tls_client_auth without subject DN attributes makes the CA itself the client's identity:
   * any certificate it issues authenticates as this client. Such a CA can then be registered
   * by no other client, and a CA another client already uses needs subject DN attributes.
   */
  private async checkCaUse(record: ClientRecord): Promise<void> {
    const use = caUse(record);
    if (!use) return;
    const others = (await this.store.setMembers(caUsersKey(use.chain))).filter((id) => id !== record.client_id);
    const dedicatedTo = await this.store.lookup(caDedicatedKey(use.chain));
    if (use.dedicated && others.length > 0) {
      throw conflict('tls_client_auth_subject_dn: another client uses this CA, so its certificates must be told apart by subject DN attributes');
    }
    if (dedicatedTo && dedicatedTo !== record.client_id) {
      throw conflict('tls_client_auth_ca: this CA identifies another client (registered without subject DN attributes)');
    }
  }

  private async indexCaUse(previous: ClientRecord | undefined, record: ClientRecord | undefined): Promise<void> {
    const before = caUse(previous);
    const after = record && caUse(record);
    if (before && (before.chain !== after?.chain || !after.dedicated)) {
      await this.store.release(caDedicatedKey(before.chain), before.clientId);
      if (before.chain !== after?.chain) await this.store.setRemove(caUsersKey(before.chain), before.clientId);
    }
    if (after) {
      await this.store.setAdd(caUsersKey(after.chain), after.clientId);
      if (after.dedicated) await this.store.claim(caDedicatedKey(after.chain), after.clientId);
    }
  }

  private newSecret(secret: string): StoredSecret {
    return { secret_id: randomUUID(), digest: this.hasher.digest(secret), created_at: epochSeconds() };
  }

  private async save(record: ClientRecord): Promise<void> {
    await this.metadataCheck(record);
    await this.store.putJSON(clientKey(record.client_id), record);
    await this.cache.invalidate(record.client_id);
  }
}
