import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type Router from '@koa/router';
import { declarationOf, requires, routeLayers, type RouteAccess } from '../../lib/http/route-access.js';
import { api, clientCredentialsToken, startIdp, type TestIdp } from '../support/idp.js';
import { createAppClient } from '../sessions/support.js';

/** Every /v1 route declares who may call it, and the guards read that declaration (lib/http/route-access.ts). */
describe('route permissions', () => {
  let t: TestIdp;
  let appId: string;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    appId = (await api(t, 'POST', '/v1/applications', { name: 'Routes' })).body.app_id;
  });
  afterAll(() => t.close());

  async function tokenWithRoles(roles: string[]) {
    const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: roles.join('+') || 'none', grant_types: ['client_credentials'], scopes: [], roles });
    expect(created.status).toBe(201);
    return clientCredentialsToken(t.issuer, created.body.client_id, created.body.client_secret);
  }
  const forbidden = (message: string) => ({ status: 403, body: { message: `Forbidden: ${message}`, error_code: 403 } });
  const notGranted = (permission: string) => forbidden(`the client's roles do not grant ${permission}`);

  interface Route { method: string; path: string; access: RouteAccess | undefined }
  /** Every route of these routers, one row per method (HEAD comes with GET). */
  const routesOf = (routers: Router[]): Route[] => routers.flatMap((router) => routeLayers(router).flatMap((layer) =>
    layer.methods.map((method) => ({ method, path: String(layer.path), access: declarationOf(layer) }))));
  /** A concrete path for a route template: every parameter filled in. */
  const concrete = (path: string) => path.replace(/:(\w+)/g, (_, name: string) => `${name}-x`);

  it('declares the access of every mounted /v1 route, as the path and method gave it before', () => {
    const { management, backendAuth, selfService } = t.idp.routers;
    const routes = routesOf(management);
    expect(routes.length).toBe(38);
    for (const route of routes) {
      // GET and HEAD read, every other method writes; the area is the first segment under /v1
      const access = route.method === 'GET' || route.method === 'HEAD' ? 'read' : 'write';
      expect({ ...route, access: route.access }).toEqual({ ...route, access: { surface: 'management', permission: { area: route.path.split('/')[2], access } } });
    }
    const others = [...routesOf(backendAuth), ...routesOf(selfService)];
    expect(others.map(({ method, path, access }) => `${method} ${path} ${access?.surface}`).sort()).toEqual([
      'DELETE /v1/me/consents/:consentId self-service',
      'GET /v1/me/consents self-service',
      'HEAD /v1/me/consents self-service',
      'POST /v1/auth/otp/authenticate backend-auth',
      'POST /v1/auth/otp/send backend-auth',
      'POST /v1/auth/password/authenticate backend-auth',
      'POST /v1/auth/session/authenticate backend-auth',
      'POST /v1/auth/session/logout backend-auth',
    ]);
  });

  it("refuses a viewer's writes on every management route, before the route runs", async () => {
    const token = await tokenWithRoles(['viewer']);
    const writes = routesOf(t.idp.routers.management).filter((route) => route.method !== 'GET' && route.method !== 'HEAD');
    expect(writes.length).toBe(16);
    for (const { method, path } of writes) {
      const area = path.split('/')[2]!;
      expect({ method, path, ...await api(t, method, concrete(path), {}, token) }).toMatchObject({ method, path, ...notGranted(`${area}:write`) });
    }
  });

  it('refuses every management route, reads too, to a client without roles', async () => {
    const token = await tokenWithRoles([]);
    const routes = routesOf(t.idp.routers.management);
    expect(routes.length).toBe(38);
    for (const { method, path, access } of routes) {
      const { area, access: needed } = (access as Extract<RouteAccess, { surface: 'management' }>).permission;
      const answer = await api(t, method, concrete(path), method === 'GET' || method === 'HEAD' ? undefined : {}, token);
      // HEAD answers carry no body
      expect({ method, path, status: answer.status, body: method === 'HEAD' ? undefined : answer.body })
        .toEqual({ method, path, status: 403, body: method === 'HEAD' ? undefined : notGranted(`${area}:${needed}`).body });
    }
  });

  it('refuses a route that declares nothing, or another surface, even to admin (fail closed)', async () => {
    const [users] = t.idp.routers.management;
    const [sessionsRouter] = t.idp.routers.backendAuth;
    // routers dispatch from their stack, so routes added now are served
    users!.post('/undeclared/route', (ctx) => { ctx.body = { ran: true }; });
    users!.post('/wrong-surface/route', requires.appClient(), (ctx) => { ctx.body = { ran: true }; });
    sessionsRouter!.post('/undeclared', (ctx) => { ctx.body = { ran: true }; });
    sessionsRouter!.post('/wrong-surface', requires.permission('auth', 'write'), (ctx) => { ctx.body = { ran: true }; });
    try {
      const undeclared = forbidden('this route declares no permission');
      expect(await api(t, 'POST', '/v1/users/undeclared/route', {})).toMatchObject(undeclared);
      expect(await api(t, 'POST', '/v1/users/wrong-surface/route', {})).toMatchObject(undeclared);
      const app = await createAppClient(t, appId);
      expect(await api(t, 'POST', '/v1/auth/undeclared', {}, app.token)).toMatchObject(undeclared);
      expect(await api(t, 'POST', '/v1/auth/wrong-surface', {}, app.token)).toMatchObject(undeclared);
    } finally {
      users!.stack.splice(-2);
      sessionsRouter!.stack.splice(-2);
    }
  });

  it('keeps the bootstrap application to admin: app_manager may neither change nor delete it', async () => {
    const token = await tokenWithRoles(['app_manager']);
    const reason = forbidden('only a client holding admin (or admin) may change or delete an application whose clients hold it');
    expect(await api(t, 'PUT', '/v1/applications/management', { name: 'mine now' }, token)).toMatchObject(reason);
    expect(await api(t, 'DELETE', '/v1/applications/management', undefined, token)).toMatchObject(reason);
    expect((await api(t, 'GET', '/v1/applications/management')).body.name).toBe('IdP management');
    // nor an application holding a client with a role it lacks (test-wide app: a viewer client)
    expect(await api(t, 'PUT', `/v1/applications/${appId}`, { name: 'x' }, token)).toMatchObject(forbidden('only a client holding viewer (or admin) may change or delete an application whose clients hold it'));
    // its own applications stay its to change
    const own = await api(t, 'POST', '/v1/applications', { name: 'Own' }, token);
    expect(own.status).toBe(201);
    expect(await api(t, 'PUT', `/v1/applications/${own.body.app_id}`, { name: 'Renamed by app_manager' }, token)).toMatchObject({ status: 200, body: { name: 'Renamed by app_manager' } });
    // admin holds every role
    expect(await api(t, 'PUT', '/v1/applications/management', { description: 'the bootstrap application' })).toMatchObject({ status: 200, body: { name: 'IdP management' } });
  });
});
