import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { api, startIdp, uniquePrefix, type TestIdp } from '../support/idp.js';

type ClientAuth = 'ClientSecretBasic' | 'ClientSecretPost';

/** Seed 001 "Rotate client secrets": two active secrets at most, the old one works until retired. */
describe('client secret rotation', () => {
  let t: TestIdp;
  let appId: string;
  let server: oidc.ServerMetadata;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    appId = (await api(t, 'POST', '/v1/applications', { name: 'Rotation' })).body.app_id;
    server = (await oidc.discovery(new URL(t.issuer), 'discovery-only', undefined, undefined, { execute: [oidc.allowInsecureRequests] })).serverMetadata();
  });
  afterAll(() => t.close());

  const machine = async (tokenEndpointAuthMethod = 'client_secret_post') => (await api(t, 'POST', `/v1/applications/${appId}/clients`, {
    name: 'Machine', grant_types: ['client_credentials'], scopes: [], token_endpoint_auth_method: tokenEndpointAuthMethod,
  })).body as { client_id: string; client_secret: string; secrets: Array<{ secret_id: string }> };

  /** A client_credentials grant by openid-client as the RP; resolves to the token or the OAuth error code. */
  async function grant(idp: TestIdp, clientId: string, secret: string, auth: ClientAuth): Promise<string> {
    const rp = new oidc.Configuration({ ...server, issuer: idp.issuer, token_endpoint: `${idp.issuer}/token` }, clientId, undefined, oidc[auth](secret));
    oidc.allowInsecureRequests(rp);
    try {
      return (await oidc.clientCredentialsGrant(rp, {})).access_token ? 'token' : 'no token';
    } catch (err) {
      // a Basic-authenticated client is refused with a WWW-Authenticate challenge, a POST one with a JSON body
      if (err instanceof oidc.WWWAuthenticateChallengeError) return err.cause[0]?.parameters.error ?? String(err);
      return (err as { error?: string }).error ?? String(err);
    }
  }

  const rotate = (clientId: string) => api(t, 'POST', `/v1/applications/${appId}/clients/${clientId}/secrets/rotate`);
  const retire = (clientId: string, secretId: string) => api(t, 'DELETE', `/v1/applications/${appId}/clients/${clientId}/secrets/${secretId}`);

  it.each<ClientAuth>(['ClientSecretBasic', 'ClientSecretPost'])('accepts old and new secret with %s during the overlap, then only the new one', async (auth) => {
    const client = await machine(auth === 'ClientSecretBasic' ? 'client_secret_basic' : 'client_secret_post');
    const [original] = client.secrets;
    expect(await grant(t, client.client_id, client.client_secret, auth)).toBe('token');

    const rotated = await rotate(client.client_id);
    expect(rotated.status).toBe(201);
    expect(Object.keys(rotated.body).sort()).toEqual(['client_secret', 'created_at', 'secret_id']);
    expect(rotated.body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated.body.client_secret).not.toBe(client.client_secret);
    expect(rotated.body.created_at).toBeCloseTo(Date.now() / 1000, -1);

    expect(await grant(t, client.client_id, client.client_secret, auth)).toBe('token');
    expect(await grant(t, client.client_id, rotated.body.client_secret, auth)).toBe('token');

    expect((await retire(client.client_id, original!.secret_id)).status).toBe(204);
    expect(await grant(t, client.client_id, client.client_secret, auth)).toBe('invalid_client');
    expect(await grant(t, client.client_id, rotated.body.client_secret, auth)).toBe('token');
  });

  it('accepts both secrets with either client authentication method, whatever the registered one', async () => {
    const client = await machine('client_secret_basic');
    const rotated = (await rotate(client.client_id)).body;
    for (const auth of ['ClientSecretBasic', 'ClientSecretPost'] as const) {
      expect(await grant(t, client.client_id, client.client_secret, auth)).toBe('token');
      expect(await grant(t, client.client_id, rotated.client_secret, auth)).toBe('token');
    }
  });

  it('lists secrets as id and creation time only, never a digest or a plain secret', async () => {
    const client = await machine();
    const rotated = (await rotate(client.client_id)).body;
    const read = await api(t, 'GET', `/v1/applications/${appId}/clients/${client.client_id}`);
    expect(read.body.secrets).toEqual([
      { secret_id: client.secrets[0]!.secret_id, created_at: expect.any(Number) },
      { secret_id: rotated.secret_id, created_at: rotated.created_at },
    ]);
    const text = JSON.stringify(read.body);
    expect(text).not.toContain(client.client_secret);
    expect(text).not.toContain(rotated.client_secret);
    expect(text).not.toContain('digest');
  });

  it('keeps at most two active secrets: a third rotation is refused until one is retired', async () => {
    const client = await machine();
    const second = (await rotate(client.client_id)).body;
    expect(await rotate(client.client_id)).toEqual(expect.objectContaining({
      status: 409,
      body: { message: 'The client already has 2 active secrets; retire one (DELETE .../secrets/{secret_id}) before rotating', error_code: 409 },
    }));
    // the refused rotation changed nothing
    expect(await grant(t, client.client_id, client.client_secret, 'ClientSecretPost')).toBe('token');
    expect(await grant(t, client.client_id, second.client_secret, 'ClientSecretPost')).toBe('token');
    expect((await retire(client.client_id, second.secret_id)).status).toBe(204);
    expect((await rotate(client.client_id)).status).toBe(201);
  });

  it('serialises changes to one client: concurrent rotations or a concurrent PUT never lose a secret', async () => {
    // called in-process so the calls really interleave at every store round trip
    const outcome = (change: Promise<unknown>) => change.then(() => 'ok', (err: { status?: number }) => err.status);
    const client = await machine();
    const rotations = Array.from({ length: 8 }, () => t.idp.clients.rotateSecret(appId, client.client_id));
    const results = await Promise.all(rotations.map((r) => r.then((issued) => issued, () => undefined)));
    const issued = results.filter((r) => r !== undefined);
    expect(issued).toHaveLength(1);
    expect(await grant(t, client.client_id, issued[0]!.client_secret, 'ClientSecretPost')).toBe('token');
    expect((await api(t, 'GET', `/v1/applications/${appId}/clients/${client.client_id}`)).body.secrets).toHaveLength(2);

    const other = await machine();
    const [put, rotation] = await Promise.all([
      outcome(t.idp.clients.update(appId, other.client_id, { name: 'Renamed' })),
      outcome(t.idp.clients.rotateSecret(appId, other.client_id)),
    ]);
    expect([put, rotation].sort()).toEqual([409, 'ok']);
    const expected = rotation === 'ok' ? 2 : 1;
    expect((await api(t, 'GET', `/v1/applications/${appId}/clients/${other.client_id}`)).body.secrets).toHaveLength(expected);
  });

  it('refuses to retire the last secret, and answers 404 for an unknown secret or client', async () => {
    const client = await machine();
    expect(await retire(client.client_id, client.secrets[0]!.secret_id)).toEqual(expect.objectContaining({
      status: 409, body: { message: 'Cannot retire the last secret of a client; rotate first so it keeps a working secret', error_code: 409 },
    }));
    expect(await grant(t, client.client_id, client.client_secret, 'ClientSecretPost')).toBe('token');
    expect(await retire(client.client_id, 'no-such-secret')).toEqual(expect.objectContaining({ status: 404, body: { message: 'Secret not found', error_code: 404 } }));
    expect((await rotate('no-such-client')).status).toBe(404);
    const other = (await api(t, 'POST', '/v1/applications', { name: 'Other' })).body.app_id;
    expect((await api(t, 'POST', `/v1/applications/${other}/clients/${client.client_id}/secrets/rotate`)).status).toBe(404);
  });

  it('has no secrets for a public client: rotation is refused', async () => {
    const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, {
      name: 'SPA', redirect_uris: ['http://localhost:8080/cb'], grant_types: ['authorization_code'], pkce: 'enforce_instead_of_secret',
    });
    expect(created.body.client_secret).toBeUndefined();
    expect(created.body.secrets).toEqual([]);
    expect(await rotate(created.body.client_id)).toEqual(expect.objectContaining({
      status: 409, body: { message: 'A public client (pkce enforce_instead_of_secret) has no secrets to rotate', error_code: 409 },
    }));
  });

  it('retires a secret on every instance at once', async () => {
    const prefix = uniquePrefix();
    const a = await startIdp({ prefix });
    const b = await startIdp({ prefix });
    try {
      const app = (await api(a, 'POST', '/v1/applications', { name: 'Two instances' })).body.app_id;
      const client = (await api(a, 'POST', `/v1/applications/${app}/clients`, { name: 'M', grant_types: ['client_credentials'], scopes: [] })).body;
      const rotated = (await api(a, 'POST', `/v1/applications/${app}/clients/${client.client_id}/secrets/rotate`)).body;
      // b caches the client with both secrets
      expect(await grant(b, client.client_id, client.client_secret, 'ClientSecretPost')).toBe('token');
      expect(await grant(b, client.client_id, rotated.client_secret, 'ClientSecretPost')).toBe('token');
      expect((await api(a, 'DELETE', `/v1/applications/${app}/clients/${client.client_id}/secrets/${client.secrets[0].secret_id}`)).status).toBe(204);
      let outcome = 'token';
      for (let i = 0; i < 20 && outcome === 'token'; i += 1) {
        outcome = await grant(b, client.client_id, client.client_secret, 'ClientSecretPost');
        if (outcome === 'token') await new Promise((r) => setTimeout(r, 25));
      }
      expect(outcome).toBe('invalid_client');
      expect(await grant(b, client.client_id, rotated.client_secret, 'ClientSecretPost')).toBe('token');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
