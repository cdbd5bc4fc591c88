import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { ADMIN, api, clientCredentialsToken, createFixture, startIdp, type TestIdp } from '../support/idp.js';
import { redisContents } from '../support/redis-contents.js';
import { backend, createAppClient } from '../sessions/support.js';

describe('management API', () => {
  let t: TestIdp;
  let appId: string;
  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    appId = (await api(t, 'POST', '/v1/applications', { name: 'Bank' })).body.app_id;
  });
  afterAll(() => t.close());

  describe('authorisation', () => {
    it('needs a bearer token', async () => {
      const res = await fetch(`${t.url}/v1/users/x`);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ message: 'Unauthorized', error_code: 401 });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    });

    it('refuses unknown tokens', async () => {
      expect((await api(t, 'GET', '/v1/applications', undefined, 'not-a-token')).status).toBe(401);
    });

    it('refuses the client token of a client without the admin role', async () => {
      const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'plain', grant_types: ['client_credentials'], scopes: [] });
      const token = await clientCredentialsToken(t.issuer, created.body.client_id, created.body.client_secret);
      const res = await api(t, 'GET', '/v1/applications', undefined, token);
      expect(res).toMatchObject({ status: 403, body: { error_code: 403 } });
    });

    it('refuses a revoked admin token at once', async () => {
      const token = await clientCredentialsToken(t.issuer, 'test-admin-client', 'test-admin-secret-0123456789abcdef0123456789');
      expect((await api(t, 'GET', '/v1/applications', undefined, token)).status).toBe(200);
      await fetch(`${t.issuer}/token/revocation`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: 'test-admin-client', client_secret: 'test-admin-secret-0123456789abcdef0123456789' }),
      });
      expect((await api(t, 'GET', '/v1/applications', undefined, token)).status).toBe(401);
    });
  });

  describe('applications', () => {
    it('creates, reads, updates, lists and deletes', async () => {
      const created = await api(t, 'POST', '/v1/applications', { name: 'Shop', description: 'web shop' });
      expect(created).toMatchObject({ status: 201, body: { name: 'Shop', description: 'web shop' } });
      const id = created.body.app_id;
      expect((await api(t, 'GET', `/v1/applications/${id}`)).body.name).toBe('Shop');
      expect((await api(t, 'PUT', `/v1/applications/${id}`, { name: 'Shop 2' })).body).toMatchObject({ name: 'Shop 2', description: 'web shop' });
      expect((await api(t, 'GET', '/v1/applications')).body.applications.map((a: { app_id: string }) => a.app_id)).toContain(id);
      expect((await api(t, 'DELETE', `/v1/applications/${id}`)).status).toBe(204);
      expect(await api(t, 'GET', `/v1/applications/${id}`)).toMatchObject({ status: 404, body: { message: 'Application not found', error_code: 404 } });
    });

    it("deletes an application: its clients' credentials and every token they hold stop working", async () => {
      const fx = await createFixture(t);
      const doomed = (await api(t, 'POST', '/v1/applications', { name: 'Doomed' })).body.app_id as string;
      const machine = await api(t, 'POST', `/v1/applications/${doomed}/clients`, { name: 'M', grant_types: ['client_credentials'], scopes: [], roles: ['viewer'] });
      const machineToken = await clientCredentialsToken(t.issuer, machine.body.client_id, machine.body.client_secret);
      const app = await createAppClient(t, doomed);
      const signedIn = await backend(t, app, 'password/authenticate', { identifier: fx.user.email, password: fx.user.password });
      expect(signedIn.status).toBe(200);
      // a first-party resource server of another application introspects them
      const introspect = async (token: string) => (await fetch(`${t.issuer}/token/introspection`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
      })).json();
      expect(await introspect(machineToken)).toMatchObject({ active: true });
      expect(await introspect(signedIn.body.access_token)).toMatchObject({ active: true });

      expect((await api(t, 'DELETE', `/v1/applications/${doomed}`)).status).toBe(204);
      const token = async (client: { client_id: string; client_secret: string }, grant: Record<string, string>) => {
        const response = await fetch(`${t.issuer}/token`, {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ ...grant, client_id: client.client_id, client_secret: client.client_secret }),
        });
        return { status: response.status, body: await response.json() };
      };
      const invalidClient = { status: 401, body: { error: 'invalid_client' } };
      expect(await token(machine.body, { grant_type: 'client_credentials' })).toMatchObject(invalidClient);
      expect(await token(app, { grant_type: 'refresh_token', refresh_token: signedIn.body.refresh_token })).toMatchObject(invalidClient);
      expect(await api(t, 'GET', '/v1/applications', undefined, machineToken)).toMatchObject({ status: 401 });
      expect(await introspect(machineToken)).toEqual({ active: false });
      expect(await introspect(signedIn.body.access_token)).toEqual({ active: false });
      expect(await introspect(signedIn.body.refresh_token)).toEqual({ active: false });
      const userinfo = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${signedIn.body.access_token}` } });
      expect({ status: userinfo.status, body: await userinfo.json() }).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'invalid token provided' } });
    });

    it('answers bad bodies with 400 naming the field', async () => {
      expect(await api(t, 'POST', '/v1/applications', {})).toMatchObject({ status: 400, body: { message: 'name is a required field', error_code: 400 } });
      expect(await api(t, 'POST', '/v1/applications', '{"name":')).toMatchObject({ status: 400, body: { error_code: 400 } });
      expect(await api(t, 'POST', '/v1/applications', '[1,2]')).toMatchObject({ status: 400, body: { error_code: 400 } });
      expect(await api(t, 'POST', '/v1/applications', { name: 'x', bogus: 1 })).toMatchObject({ status: 400, body: { message: 'unknown field: bogus' } });
      expect(await api(t, 'POST', '/v1/applications', '"just a string"')).toMatchObject({ status: 400, body: { error_code: 400 } });
      expect(await api(t, 'POST', '/v1/users', JSON.stringify({ email: 'x'.repeat(70_000) }))).toMatchObject({ status: 413, body: { error_code: 413 } });
      expect(await api(t, 'GET', '/v1/users/%E0%A4%A')).toMatchObject({ status: 404, body: { error_code: 404 } });
    });

    it('answers unknown routes with a JSON 404, also under /cis', async () => {
      expect(await api(t, 'GET', '/v1/nothing-here')).toMatchObject({ status: 404, body: { error_code: 404 } });
      expect((await api(t, 'GET', `/cis/v1/applications/${appId}`)).body.app_id).toBe(appId);
    });
  });

  describe('clients', () => {
    it('creates a client with seed 001 defaults and shows the secret only once', async () => {
      const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'Web', redirect_uris: ['https://bank.example/cb'] });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        app_id: appId, client_type: 'web', token_endpoint_auth_method: 'client_secret_post', pkce: 'allow',
        access_token_ttl: 3600, refresh_token_ttl: 1209600, session_ttl: 1209600, third_party: false,
      });
      expect(created.body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const read = await api(t, 'GET', `/v1/applications/${appId}/clients/${created.body.client_id}`);
      expect(read.body.client_secret).toBeUndefined();
      expect(JSON.stringify(read.body)).not.toContain('digest');
      expect(read.body.secrets).toHaveLength(1);
    });

    it('keeps plain secrets out of the store', async () => {
      const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'Dump check', grant_types: ['client_credentials'], scopes: [] });
      const redis = new Redis(process.env.REDIS_URL!);
      const contents = await redisContents(redis, t.config.redisKeyPrefix);
      redis.disconnect();
      // the scan reads sets too: the client is listed in its application's set
      expect([...contents.values()].filter((value) => value.includes(created.body.client_id)).length).toBeGreaterThanOrEqual(2);
      expect(contents.get(`${t.config.redisKeyPrefix}app-clients:${appId}`)).toContain(created.body.client_id);
      const all = [...contents.values()].join('\n');
      expect(all).not.toContain(created.body.client_secret);
      expect(all).not.toContain(ADMIN.clientSecret);
    });

    it.each([
      ['web', 'http://bank.example/cb', 'redirect_uris[0]: must use https unless the host is localhost'],
      ['web', 'com.bank.app:/cb', 'redirect_uris[0]: must use https unless the host is localhost'],
      ['web', 'https://bank.example/cb#frag', 'redirect_uris[0]: must not contain a fragment'],
      ['native', 'myapp:/cb', 'redirect_uris[0]: must use https, http on localhost, or a reverse-domain custom scheme (com.example.app:/callback)'],
      ['web', 'not a uri', 'redirect_uris[0]: must be an absolute URI'],
    ])('refuses a %s client with redirect URI %s', async (clientType, uri, message) => {
      const res = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'bad', client_type: clientType, redirect_uris: [uri] });
      expect(res).toMatchObject({ status: 400, body: { message, error_code: 400 } });
    });

    it('refuses a URI with a control character or space in every URI field, naming the field, before storing anything', async () => {
      const clientPath = `/v1/applications/${appId}/clients`;
      const created = await api(t, 'POST', clientPath, { name: 'URIs', redirect_uris: ['https://bank.example/cb'] });
      expect(created.status).toBe(201);
      const problem = 'must not contain spaces or control characters (CR, LF, tab, ...)';
      // the URL parser drops tabs and line breaks and encodes spaces: each was stored raw and used normalised
      for (const bad of ['https://bank.example/cb\r\nSet-Cookie: x=1', 'https://bank.example/c\nb', 'https://bank.example/c\tb', 'https://bank.example/c\u0000b',
        'https://bank.example/c b', ' https://bank.example/cb', 'https://bank.example/cb\u007f', 'https://bank.example/cb\u0085', 'https://bank.example/cb\u2028']) {
        const cases: Array<[string, string, Record<string, unknown>, string]> = [
          ['POST', clientPath, { name: 'x', redirect_uris: [bad] }, `redirect_uris[0]: ${problem}`],
          ['PUT', `${clientPath}/${created.body.client_id}`, { redirect_uris: ['https://bank.example/cb', bad] }, `redirect_uris[1]: ${problem}`],
          ['PUT', `${clientPath}/${created.body.client_id}`, { post_logout_redirect_uris: [bad] }, `post_logout_redirect_uris[0]: ${problem}`],
          ['POST', clientPath, { name: 'x', redirect_uris: ['https://tp.example/cb'], third_party: true, consent_uris: [bad] }, `consent_uris[0]: ${problem}`],
          ['PUT', `${clientPath}/${created.body.client_id}`, { ciba_authorization: { enabled: true, login_uri: bad } }, `ciba_authorization.login_uri: ${problem}`],
          ['POST', `/v1/applications/${appId}/resources`, { uri: bad, access_token_ttl: 600 }, `uri: ${problem}`],
        ];
        for (const [method, path, body, message] of cases) {
          const answer = await api(t, method, path, body);
          expect({ bad, path, sent: body, status: answer.status, answer: answer.body }).toEqual({ bad, path, sent: body, status: 400, answer: { message, error_code: 400 } });
        }
      }
      expect((await api(t, 'GET', `${clientPath}/${created.body.client_id}`)).body).toMatchObject({
        redirect_uris: ['https://bank.example/cb'], post_logout_redirect_uris: [], ciba_authorization: { enabled: false, login_uri: null },
      });
    });

    it.each([
      ['web', 'http://localhost:3000/cb'],
      ['web', 'http://127.0.0.1/cb'],
      ['native', 'com.bank.app:/callback'],
      ['native', 'com.bank.app://callback'],
      ['native', 'https://bank.example/app'],
    ])('accepts a %s client with redirect URI %s', async (clientType, uri) => {
      const res = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'ok', client_type: clientType, redirect_uris: [uri] });
      expect(res.status).toBe(201);
    });

    it('refuses invalid settings with the field named', async () => {
      const post = (body: object) => api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'x', redirect_uris: ['https://a.example/cb'], ...body });
      expect((await post({ token_endpoint_auth_method: 'magic' })).body.message).toMatch(/^token_endpoint_auth_method must be one of/);
      expect((await post({ pkce: 'sometimes' })).body.message).toMatch(/^pkce must be one of/);
      expect((await post({ scopes: ['openid', 'admin:all'] })).body.message).toMatch(/^scopes\[1\] must be one of/);
      expect((await post({ grant_types: ['implicit'] })).body.message).toMatch(/^grant_types\[0\] must be one of/);
      expect((await post({ access_token_ttl: 5 })).body.message).toMatch(/^access_token_ttl must be greater than or equal to 60/);
      expect((await post({ redirect_uris: [] })).body.message).toBe('redirect_uris: at least one is required for authorization_code');
      expect((await post({ pkce: 'enforce_instead_of_secret' })).body.message).toMatch(/^grant_types: client_credentials needs a client secret/);
    });

    it('merges a partial PUT and applies it to the token endpoint at once', async () => {
      const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'Machine', grant_types: ['client_credentials'], scopes: [] });
      const { client_id: id, client_secret: secret } = created.body;
      const tokenTtl = async () => (await (await fetch(`${t.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret }),
      })).json() as { expires_in: number }).expires_in;
      expect(await tokenTtl()).toBe(3600);
      const updated = await api(t, 'PUT', `/v1/applications/${appId}/clients/${id}`, { access_token_ttl: 600 });
      expect(updated.body).toMatchObject({ name: 'Machine', access_token_ttl: 600, grant_types: ['client_credentials'] });
      expect(await tokenTtl()).toBe(600);
      expect((await api(t, 'PUT', `/v1/applications/${appId}/clients/${id}`, { client_type: 'tv' })).status).toBe(400);
      expect((await api(t, 'GET', `/v1/applications/${appId}/clients/${id}`)).body.client_type).toBe('web');
    });

    it('deletes a client: its credentials stop working', async () => {
      const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'Gone', grant_types: ['client_credentials'], scopes: [] });
      expect((await api(t, 'DELETE', `/v1/applications/${appId}/clients/${created.body.client_id}`)).status).toBe(204);
      await expect(clientCredentialsToken(t.issuer, created.body.client_id, created.body.client_secret)).rejects.toThrow(/invalid_client/);
      expect((await api(t, 'GET', `/v1/applications/${appId}/clients/${created.body.client_id}`)).status).toBe(404);
    });

    it('does not show a client under another application', async () => {
      const other = await api(t, 'POST', '/v1/applications', { name: 'Other' });
      const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'Mine', grant_types: ['client_credentials'], scopes: [] });
      expect((await api(t, 'GET', `/v1/applications/${other.body.app_id}/clients/${created.body.client_id}`)).status).toBe(404);
    });
  });

  describe('users', () => {
    it('creates, reads, updates and deletes a user without ever returning the password', async () => {
      const created = await api(t, 'POST', '/v1/users', {
        email: 'Grace@Example.com', email_verified: true, phone_number: '+15551230001', username: 'grace',
        password: 'a long passphrase', given_name: 'Grace', custom_data: { tier: 'gold' },
      });
      expect(created).toMatchObject({ status: 201, body: { email: 'grace@example.com', username: 'grace', custom_data: { tier: 'gold' } } });
      expect(JSON.stringify(created.body)).not.toMatch(/password|passphrase/);
      const id = created.body.user_id;
      expect((await api(t, 'PUT', `/v1/users/${id}`, { family_name: 'Hopper' })).body).toMatchObject({ given_name: 'Grace', family_name: 'Hopper' });
      expect((await api(t, 'GET', `/v1/users/${id}`)).body.family_name).toBe('Hopper');
      expect((await api(t, 'DELETE', `/v1/users/${id}`)).status).toBe(204);
      expect((await api(t, 'GET', `/v1/users/${id}`)).status).toBe(404);
      // identifiers are free again
      expect((await api(t, 'POST', '/v1/users', { email: 'grace@example.com' })).status).toBe(201);
    });

    it('keeps identifiers unique (case-insensitive) and frees old ones on change', async () => {
      const a = await api(t, 'POST', '/v1/users', { email: 'unique@example.com', username: 'uniq' });
      expect(await api(t, 'POST', '/v1/users', { email: 'UNIQUE@example.com' })).toMatchObject({ status: 409, body: { message: 'email is already in use' } });
      expect((await api(t, 'POST', '/v1/users', { username: 'UNIQ' })).status).toBe(409);
      expect((await api(t, 'PUT', `/v1/users/${a.body.user_id}`, { email: 'renamed@example.com' })).status).toBe(200);
      expect((await api(t, 'POST', '/v1/users', { email: 'unique@example.com' })).status).toBe(201);
    });

    it('refuses invalid users', async () => {
      expect((await api(t, 'POST', '/v1/users', { given_name: 'No identifier' })).body.message).toBe('one of email, phone_number or username is required');
      expect((await api(t, 'POST', '/v1/users', { email: 'not-an-email' })).body.message).toBe('email must be a valid email');
      expect((await api(t, 'POST', '/v1/users', { phone_number: '555' })).body.message).toMatch(/^phone_number must be in E.164/);
      expect((await api(t, 'POST', '/v1/users', { email: 'p@example.com', password: 'short' })).body.message).toMatch(/^password must be at least 8/);
      expect((await api(t, 'POST', '/v1/users', { email: 'big@example.com', custom_data: { x: 'y'.repeat(9000) } })).body.message).toMatch(/custom_data/);
    });
  });
});
