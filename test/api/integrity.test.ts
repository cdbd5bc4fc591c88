import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN, api, clientCredentialsToken, startIdp, uniquePrefix, type StoreKind, type TestIdp } from '../support/idp.js';
import { Gate, holdingStore } from '../support/held-store.js';

/**
 * Issue 13, the class of finding 1 in the management API: a change in flight never writes
 * back the copy it read over a newer change or a deletion. Each race is forced: the slow
 * request's read is held at a gate until the other request has been answered.
 */
describe.each<StoreKind>(['memory', 'redis'])('management records under concurrent changes (%s store)', (kind) => {
  let t: TestIdp;
  const gated: { key?: string; gate?: Gate } = {};

  beforeAll(async () => {
    t = await startIdp({
      store: kind,
      wrapStore: (store) => holdingStore(store, { read: (key) => (key === gated.key ? gated.gate : undefined) }),
    });
  });
  afterAll(() => t.close());

  /** Holds the next read of `key` until `open()`. */
  function holdNextReadOf(key: string): Gate {
    gated.gate = new Gate(1);
    gated.key = key;
    return gated.gate;
  }

  /** Sends `slow`, holds its read of `key`, answers `fast` meanwhile, then lets `slow` finish. */
  async function race(key: string, slow: () => ReturnType<typeof api>, fast: () => ReturnType<typeof api>) {
    const gate = holdNextReadOf(key);
    const slowAnswer = slow();
    await gate.full;
    const fastAnswer = await fast();
    gate.open();
    return { slow: await slowAnswer, fast: fastAnswer };
  }

  const newApp = async () => (await api(t, 'POST', '/v1/applications', { name: 'Bank', description: 'first' })).body.app_id as string;
  const uniqueUri = (name: string) => `https://api.example/${name}-${Math.random().toString(36).slice(2)}`;

  describe('applications', () => {
    it('keeps both of two changes that raced each other', async () => {
      const appId = await newApp();
      const { slow, fast } = await race(`app:${appId}`,
        () => api(t, 'PUT', `/v1/applications/${appId}`, { name: 'Renamed' }),
        () => api(t, 'PUT', `/v1/applications/${appId}`, { description: 'second' }));
      expect([slow.status, fast.status]).toEqual([200, 200]);
      expect(await api(t, 'GET', `/v1/applications/${appId}`)).toMatchObject({ status: 200, body: { name: 'Renamed', description: 'second' } });
    });

    it('answers 404 to a change that raced the deletion, and the application stays deleted', async () => {
      const appId = await newApp();
      const { slow, fast } = await race(`app:${appId}`,
        () => api(t, 'PUT', `/v1/applications/${appId}`, { name: 'Renamed' }),
        () => api(t, 'DELETE', `/v1/applications/${appId}`));
      expect(fast.status).toBe(204);
      expect(slow).toMatchObject({ status: 404, body: { message: 'Application not found', error_code: 404 } });
      expect(await api(t, 'GET', `/v1/applications/${appId}`)).toMatchObject({ status: 404, body: { message: 'Application not found' } });
    });

    /** What a create left behind: whether its client still gets tokens, or its resource is still listed. */
    type Leftover = (appId: string, created: { body: Record<string, string> }) => Promise<string>;
    const clientToken: Leftover = (_, created) => clientCredentialsToken(t.issuer, created.body.client_id ?? 'none', created.body.client_secret ?? 'none')
      .then(() => 'still works', () => 'gone');
    const resourceOf: Leftover = async (appId, created) => ((await t.idp.resources.list(appId)).some((r) => r.resource_id === created.body.resource_id) ? 'still works' : 'gone');
    it.each<[string, (appId: string) => ReturnType<typeof api>, Leftover]>([
      ['client', (appId) => api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'Late', grant_types: ['client_credentials'], scopes: [] }), clientToken],
      ['resource', (appId) => api(t, 'POST', `/v1/applications/${appId}/resources`, { uri: uniqueUri('late'), access_token_ttl: 600 }), resourceOf],
    ])('leaves no %s created while its application was deleted', async (what, create, leftover) => {
      const appId = await newApp();
      // held at its last look at the application before it saves (the client route reads it once more first)
      gated.gate = new Gate(1, { skip: what === 'client' ? 1 : 0 });
      gated.key = `app:${appId}`;
      const gate = gated.gate;
      const creating = create(appId);
      await Promise.race([gate.full, creating.then((answer) => { throw new Error(`answered before it was held: ${answer.status}`); })]);
      expect((await api(t, 'DELETE', `/v1/applications/${appId}`)).status).toBe(204);
      gate.open();
      const created = await creating;
      expect({ what, status: created.status, body: created.body, leftover: await leftover(appId, created) })
        .toMatchObject({ what, status: 404, body: { message: 'Application not found' }, leftover: 'gone' });
    });
  });

  describe('resources', () => {
    const resourcesOf = (appId: string) => `/v1/applications/${appId}/resources`;
    const newResource = async (appId: string) => {
      const created = await api(t, 'POST', resourcesOf(appId), { uri: uniqueUri('r'), name: 'Before', access_token_ttl: 600 });
      expect(created.status).toBe(201);
      return created.body as { resource_id: string; uri: string };
    };

    it('keeps both of two changes that raced each other', async () => {
      const appId = await newApp();
      const resource = await newResource(appId);
      const path = `${resourcesOf(appId)}/${resource.resource_id}`;
      const { slow, fast } = await race(`resource:${resource.resource_id}`,
        () => api(t, 'PUT', path, { name: 'After' }),
        () => api(t, 'PUT', path, { access_token_ttl: 300 }));
      expect([slow.status, fast.status]).toEqual([200, 200]);
      expect(await api(t, 'GET', path)).toMatchObject({ status: 200, body: { name: 'After', access_token_ttl: 300 } });
    });

    it('ends two URI changes that raced with the URI the record holds claimed, and the other free', async () => {
      const appId = await newApp();
      const resource = await newResource(appId);
      const path = `${resourcesOf(appId)}/${resource.resource_id}`;
      const [slowUri, fastUri] = [uniqueUri('slow'), uniqueUri('fast')];
      const { slow, fast } = await race(`resource:${resource.resource_id}`,
        () => api(t, 'PUT', path, { uri: slowUri }),
        () => api(t, 'PUT', path, { uri: fastUri }));
      expect([slow.status, fast.status]).toEqual([200, 200]);
      expect(await api(t, 'GET', path)).toMatchObject({ status: 200, body: { uri: slowUri } });
      expect(await api(t, 'POST', resourcesOf(appId), { uri: slowUri, access_token_ttl: 600 })).toMatchObject({
        status: 409, body: { message: 'uri is already used by another resource', error_code: 409 },
      });
      for (const uri of [fastUri, resource.uri]) expect((await api(t, 'POST', resourcesOf(appId), { uri, access_token_ttl: 600 })).status).toBe(201);
    });

    it('answers 404 to a change that raced the deletion, keeps the resource deleted and gives back the URI it had claimed', async () => {
      const appId = await newApp();
      const resource = await newResource(appId);
      const path = `${resourcesOf(appId)}/${resource.resource_id}`;
      const uri = uniqueUri('renamed');
      const { slow, fast } = await race(`resource:${resource.resource_id}`,
        () => api(t, 'PUT', path, { uri }),
        () => api(t, 'DELETE', path));
      expect(fast.status).toBe(204);
      expect(slow).toMatchObject({ status: 404, body: { message: 'Resource not found', error_code: 404 } });
      expect(await api(t, 'GET', path)).toMatchObject({ status: 404, body: { message: 'Resource not found' } });
      for (const free of [uri, resource.uri]) expect((await api(t, 'POST', resourcesOf(appId), { uri: free, access_token_ttl: 600 })).status).toBe(201);
    });

    it('gives back the URI a deleted resource held when deleted, not the one the deletion first read', async () => {
      const appId = await newApp();
      const resource = await newResource(appId);
      const path = `${resourcesOf(appId)}/${resource.resource_id}`;
      const uri = uniqueUri('renamed');
      const { slow, fast } = await race(`resource:${resource.resource_id}`,
        () => api(t, 'DELETE', path),
        () => api(t, 'PUT', path, { uri }));
      expect([slow.status, fast.status]).toEqual([204, 200]);
      expect(await api(t, 'GET', path)).toMatchObject({ status: 404, body: { message: 'Resource not found' } });
      for (const free of [uri, resource.uri]) expect((await api(t, 'POST', resourcesOf(appId), { uri: free, access_token_ttl: 600 })).status).toBe(201);
    });
  });
});

describe('the bootstrap management client when an instance starts (redis store)', () => {
  it('is never written back stale by a starting instance while an admin changes it', async () => {
    const prefix = uniquePrefix();
    const running = await startIdp({ prefix });
    const rotated = 'test-admin-secret-rotated-0123456789abcdef0123';
    const clientPath = `/v1/applications/management/clients/${ADMIN.clientId}`;
    await running.adminToken();
    // the new instance reads the client to bring its secret in line with its environment: hold that read
    const gate = new Gate(1);
    const starting = startIdp({
      prefix,
      env: { IDP_ADMIN_CLIENT_SECRET: rotated },
      wrapStore: (store) => holdingStore(store, { read: (key) => (key === `client:${ADMIN.clientId}` ? gate : undefined) }),
    });
    await gate.full;
    const meanwhile = await api(running, 'PUT', clientPath, { access_token_ttl: 120 });
    gate.open();
    const started = await starting;
    try {
      // the start-up change holds the client's lock, as every change of a client does
      expect(meanwhile).toMatchObject({ status: 409, body: { message: 'The client is being changed by another request; try again', error_code: 409 } });
      expect((await api(running, 'PUT', clientPath, { access_token_ttl: 120 })).status).toBe(200);
      expect(await api(running, 'GET', clientPath)).toMatchObject({ status: 200, body: { access_token_ttl: 120, roles: ['admin'] } });
      expect(await clientCredentialsToken(`${running.url}/oidc`, ADMIN.clientId, rotated)).toEqual(expect.any(String));
    } finally {
      await started.close();
      await running.close();
    }
  });
});
