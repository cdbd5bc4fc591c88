import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { api, clientCredentialsToken, startIdp, type TestIdp } from '../support/idp.js';

/** Client roles limit which management APIs a client token may call (lib/http/permissions.ts). */
describe('client roles', () => {
  let t: TestIdp;
  let appId: string;
  let userId: string;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    appId = (await api(t, 'POST', '/v1/applications', { name: 'Roles' })).body.app_id;
    userId = (await api(t, 'POST', '/v1/users', { email: 'roles@example.com' })).body.user_id;
  });
  afterAll(() => t.close());

  /** A machine client holding the roles, created by the admin, and a client_credentials token of it. */
  async function tokenWithRoles(roles: string[]) {
    const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: roles.join('+') || 'none', grant_types: ['client_credentials'], scopes: [], roles });
    expect(created.status).toBe(201);
    return { clientId: created.body.client_id as string, token: await clientCredentialsToken(t.issuer, created.body.client_id, created.body.client_secret) };
  }
  const forbidden = (permission: string) => ({ status: 403, body: { message: `Forbidden: the client's roles do not grant ${permission}`, error_code: 403 } });
  const email = () => `u-${randomBytes(4).toString('hex')}@example.com`;

  it('viewer reads everything and writes nothing', async () => {
    const { token } = await tokenWithRoles(['viewer']);
    expect((await api(t, 'GET', '/v1/applications', undefined, token)).status).toBe(200);
    expect((await api(t, 'GET', `/v1/applications/${appId}/clients`, undefined, token)).status).toBe(200);
    expect((await api(t, 'GET', `/v1/users/${userId}`, undefined, token)).status).toBe(200);
    expect((await api(t, 'GET', '/v1/consents', undefined, token)).status).toBe(200);
    expect((await fetch(`${t.url}/v1/applications`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect(await api(t, 'POST', '/v1/applications', { name: 'Nope' }, token)).toMatchObject(forbidden('applications:write'));
    expect(await api(t, 'PUT', `/v1/applications/${appId}`, { name: 'Nope' }, token)).toMatchObject(forbidden('applications:write'));
    expect(await api(t, 'DELETE', `/v1/users/${userId}`, undefined, token)).toMatchObject(forbidden('users:write'));
    expect(await api(t, 'DELETE', '/v1/consents/any', undefined, token)).toMatchObject(forbidden('consents:write'));
    // the seed prefix is the same API
    expect((await api(t, 'GET', '/cis/v1/applications', undefined, token)).status).toBe(200);
    expect(await api(t, 'POST', '/cis/v1/applications', { name: 'Nope' }, token)).toMatchObject(forbidden('applications:write'));
  });

  it('user_manager creates and manages users but not applications', async () => {
    const { token } = await tokenWithRoles(['user_manager']);
    const created = await api(t, 'POST', '/v1/users', { email: email() }, token);
    expect(created.status).toBe(201);
    expect((await api(t, 'PUT', `/v1/users/${created.body.user_id}`, { given_name: 'Ulla' }, token)).body.given_name).toBe('Ulla');
    expect((await api(t, 'DELETE', `/v1/users/${created.body.user_id}`, undefined, token)).status).toBe(204);
    expect(await api(t, 'POST', '/v1/applications', { name: 'Nope' }, token)).toMatchObject(forbidden('applications:write'));
    expect(await api(t, 'GET', '/v1/applications', undefined, token)).toMatchObject(forbidden('applications:read'));
    expect(await api(t, 'GET', '/v1/consents', undefined, token)).toMatchObject(forbidden('consents:read'));
  });

  it('app_manager manages applications, clients and secrets but not users', async () => {
    const { token } = await tokenWithRoles(['app_manager']);
    const app = await api(t, 'POST', '/v1/applications', { name: 'Managed' }, token);
    expect(app.status).toBe(201);
    const client = await api(t, 'POST', `/v1/applications/${app.body.app_id}/clients`, { name: 'M', grant_types: ['client_credentials'], scopes: [] }, token);
    expect(client.status).toBe(201);
    expect((await api(t, 'POST', `/v1/applications/${app.body.app_id}/clients/${client.body.client_id}/secrets/rotate`, undefined, token)).status).toBe(201);
    expect(await api(t, 'POST', '/v1/users', { email: email() }, token)).toMatchObject(forbidden('users:write'));
    expect(await api(t, 'GET', `/v1/users/${userId}`, undefined, token)).toMatchObject(forbidden('users:read'));
  });

  it('consent_manager lists consents and receipts but not users', async () => {
    const { token } = await tokenWithRoles(['consent_manager']);
    expect(await api(t, 'GET', '/v1/consents', undefined, token)).toMatchObject({ status: 200, body: { consents: expect.any(Array) } });
    expect((await api(t, 'GET', `/v1/consent-receipts?user_id=${userId}`, undefined, token)).status).toBe(200);
    expect((await api(t, 'GET', `/v1/consent-requests/${'a'.repeat(43)}`, undefined, token)).status).toBe(404);
    expect((await api(t, 'DELETE', '/v1/consents/unknown', undefined, token)).status).toBe(404);
    expect(await api(t, 'GET', `/v1/users/${userId}`, undefined, token)).toMatchObject(forbidden('users:read'));
    expect(await api(t, 'POST', '/v1/applications', { name: 'Nope' }, token)).toMatchObject(forbidden('applications:write'));
  });

  it('combines roles, and admin may do everything', async () => {
    const both = (await tokenWithRoles(['user_manager', 'consent_manager'])).token;
    expect((await api(t, 'POST', '/v1/users', { email: email() }, both)).status).toBe(201);
    expect((await api(t, 'GET', '/v1/consents', undefined, both)).status).toBe(200);
    expect(await api(t, 'GET', '/v1/applications', undefined, both)).toMatchObject(forbidden('applications:read'));

    const { token } = await tokenWithRoles(['admin']);
    expect((await api(t, 'POST', '/v1/users', { email: email() }, token)).status).toBe(201);
    const app = await api(t, 'POST', '/v1/applications', { name: 'By admin' }, token);
    expect(app.status).toBe(201);
    expect((await api(t, 'DELETE', `/v1/applications/${app.body.app_id}`, undefined, token)).status).toBe(204);
    expect((await api(t, 'GET', '/v1/consents', undefined, token)).status).toBe(200);
  });

  it('lets no one hand out or take over roles it does not hold', async () => {
    const { clientId, token } = await tokenWithRoles(['app_manager']);
    const noEscalation = (role: string) => ({
      status: 403, body: { message: `Forbidden: only a client holding ${role} (or admin) may assign it or manage a client that holds it`, error_code: 403 },
    });
    const machine = { name: 'M', grant_types: ['client_credentials'], scopes: [] };
    expect(await api(t, 'POST', `/v1/applications/${appId}/clients`, { ...machine, roles: ['admin'] }, token)).toMatchObject(noEscalation('admin'));
    expect(await api(t, 'PUT', `/v1/applications/${appId}/clients/${clientId}`, { roles: ['app_manager', 'user_manager'] }, token)).toMatchObject(noEscalation('user_manager'));
    // the bootstrap admin client: its secret cannot be rotated, nor it or its application changed or deleted
    const bootstrap = '/v1/applications/management/clients/test-admin-client';
    expect(await api(t, 'POST', `${bootstrap}/secrets/rotate`, undefined, token)).toMatchObject(noEscalation('admin'));
    expect(await api(t, 'PUT', bootstrap, { name: 'mine now' }, token)).toMatchObject(noEscalation('admin'));
    expect(await api(t, 'DELETE', bootstrap, undefined, token)).toMatchObject(noEscalation('admin'));
    expect(await api(t, 'DELETE', '/v1/applications/management', undefined, token)).toMatchObject({
      status: 403, body: { message: 'Forbidden: only a client holding admin (or admin) may change or delete an application whose clients hold it', error_code: 403 },
    });
    expect((await api(t, 'GET', bootstrap)).body).toMatchObject({ roles: ['admin'], secrets: [expect.anything()] });
    // nor a secret of another admin client rotated or retired (a leaked one stays the admin's to retire)
    const adminClient = await api(t, 'POST', `/v1/applications/${appId}/clients`, { ...machine, roles: ['admin'] });
    const adminPath = `/v1/applications/${appId}/clients/${adminClient.body.client_id}`;
    expect((await api(t, 'POST', `${adminPath}/secrets/rotate`)).status).toBe(201);
    const [oldSecret, newSecret] = (await api(t, 'GET', adminPath)).body.secrets as Array<{ secret_id: string }>;
    expect(await api(t, 'POST', `${adminPath}/secrets/rotate`, undefined, token)).toMatchObject(noEscalation('admin'));
    expect(await api(t, 'DELETE', `${adminPath}/secrets/${oldSecret!.secret_id}`, undefined, token)).toMatchObject(noEscalation('admin'));
    expect((await api(t, 'GET', adminPath)).body.secrets.map((s: { secret_id: string }) => s.secret_id)).toEqual([oldSecret!.secret_id, newSecret!.secret_id]);
    // its own role, and clients without roles, are its to manage
    expect((await api(t, 'POST', `/v1/applications/${appId}/clients`, { ...machine, roles: ['app_manager'] }, token)).status).toBe(201);
    expect((await api(t, 'PUT', `/v1/applications/${appId}/clients/${clientId}`, { name: 'Renamed' }, token)).status).toBe(200);
    // admin hands out any role
    expect((await api(t, 'PUT', `/v1/applications/${appId}/clients/${clientId}`, { roles: ['app_manager', 'user_manager'] })).status).toBe(200);
  });

  it('gives a client without roles no management access', async () => {
    const { token } = await tokenWithRoles([]);
    expect(await api(t, 'GET', '/v1/applications', undefined, token)).toMatchObject(forbidden('applications:read'));
    expect(await api(t, 'GET', '/v1/consents', undefined, token)).toMatchObject(forbidden('consents:read'));
  });

  it('applies a role change to tokens already issued, at once', async () => {
    const { clientId, token } = await tokenWithRoles(['viewer']);
    expect((await api(t, 'GET', '/v1/applications', undefined, token)).status).toBe(200);
    expect((await api(t, 'PUT', `/v1/applications/${appId}/clients/${clientId}`, { roles: ['user_manager'] })).body.roles).toEqual(['user_manager']);
    expect(await api(t, 'GET', '/v1/applications', undefined, token)).toMatchObject(forbidden('applications:read'));
    expect((await api(t, 'GET', `/v1/users/${userId}`, undefined, token)).status).toBe(200);
  });

  it('refuses unknown roles with 400 naming the field', async () => {
    const post = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'x', grant_types: ['client_credentials'], scopes: [], roles: ['viewer', 'superuser'] });
    expect(post).toMatchObject({ status: 400, body: { error_code: 400 } });
    expect(post.body.message).toBe('roles[1] must be one of the following values: admin, viewer, user_manager, app_manager, consent_manager');
    const { clientId } = await tokenWithRoles(['viewer']);
    expect((await api(t, 'PUT', `/v1/applications/${appId}/clients/${clientId}`, { roles: ['root'] })).body.message).toMatch(/^roles\[0\] must be one of/);
    expect((await api(t, 'GET', `/v1/applications/${appId}/clients/${clientId}`)).body.roles).toEqual(['viewer']);
  });

  it('still answers 401, not 403, for a missing or unknown token', async () => {
    expect((await fetch(`${t.url}/v1/applications`, { method: 'POST' })).status).toBe(401);
    expect((await api(t, 'POST', '/v1/applications', { name: 'x' }, 'not-a-token')).status).toBe(401);
  });
});
