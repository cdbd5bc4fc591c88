import Router from '@koa/router';
import type { Context } from 'koa';
import { requireHeldRoles } from '../http/admin-auth.js';
import { unlessNotFound } from '../http/errors.js';
import { requires } from '../http/route-access.js';
import type { ApplicationService } from './service.js';
import { clientView, type Authorize, type ClientService } from '../clients/service.js';
import type { ConsentService } from '../consents/service.js';
import type { ResourceService } from '../resources/service.js';

/** /v1/applications, their clients and the clients' secrets (seed 001). */
export function applicationRoutes(apps: ApplicationService, clients: ClientService, resources: ResourceService, consents: ConsentService): Router {
  const admin = (ctx: { state: { managementClientId: string } }) => ({ type: 'admin' as const, id: ctx.state.managementClientId });
  // no escalation: changing a client needs the roles it holds and the roles it is given
  const rolesIn = (body: unknown) => {
    const roles = (body as { roles?: unknown } | undefined)?.roles;
    return Array.isArray(roles) ? roles : [];
  };
  const rolesOfClientHeld = (ctx: Context): Authorize => (current) => requireHeldRoles(ctx, current.roles);
  // an application whose clients hold roles (the bootstrap `management` one) is theirs: changing
  // or deleting it needs every role its clients hold; its clients guard themselves (above)
  const rolesOfAppClientsHeld = async (ctx: Context, appId: string) => {
    const appClients = await clients.list(appId);
    requireHeldRoles(ctx, appClients.flatMap((client) => client.roles), 'change or delete an application whose clients hold it');
    return appClients;
  };
  const router = new Router({ prefix: '/v1/applications' });

  router.post('/', requires.permission('applications', 'write'), async (ctx) => {
    ctx.status = 201;
    ctx.body = await apps.create(ctx.request.body);
  });
  router.get('/', requires.permission('applications', 'read'), async (ctx) => {
    ctx.body = { applications: await apps.list() };
  });
  router.get('/:appId', requires.permission('applications', 'read'), async (ctx) => {
    ctx.body = await apps.get(ctx.params.appId!);
  });
  router.put('/:appId', requires.permission('applications', 'write'), async (ctx) => {
    await rolesOfAppClientsHeld(ctx, ctx.params.appId!);
    ctx.body = await apps.update(ctx.params.appId!, ctx.request.body);
  });
  router.delete('/:appId', requires.permission('applications', 'write'), async (ctx) => {
    const appClients = await rolesOfAppClientsHeld(ctx, ctx.params.appId!);
    await apps.delete(ctx.params.appId!);
    await resources.deleteAllOfApp(ctx.params.appId!);
    for (const client of appClients) await consents.revokeAll({ client_id: client.client_id }, admin(ctx));
    ctx.status = 204;
  });

  router.post('/:appId/clients', requires.permission('applications', 'write'), async (ctx) => {
    await apps.get(ctx.params.appId!);
    await resources.checkClientResources(ctx.params.appId!, ctx.request.body);
    requireHeldRoles(ctx, rolesIn(ctx.request.body));
    const { record, secret } = await apps.addTo(
      ctx.params.appId!,
      () => clients.create(ctx.params.appId!, ctx.request.body),
      ({ record: made }) => clients.delete(ctx.params.appId!, made.client_id).catch(unlessNotFound),
    );
    ctx.status = 201;
    // the only response that ever carries the secret
    ctx.body = { ...clientView(record), client_secret: secret };
  });
  router.get('/:appId/clients', requires.permission('applications', 'read'), async (ctx) => {
    await apps.get(ctx.params.appId!);
    ctx.body = { clients: (await clients.list(ctx.params.appId!)).map(clientView) };
  });
  router.get('/:appId/clients/:clientId', requires.permission('applications', 'read'), async (ctx) => {
    ctx.body = clientView(await clients.get(ctx.params.appId!, ctx.params.clientId!));
  });
  router.put('/:appId/clients/:clientId', requires.permission('applications', 'write'), async (ctx) => {
    await resources.checkClientResources(ctx.params.appId!, ctx.request.body);
    requireHeldRoles(ctx, rolesIn(ctx.request.body));
    ctx.body = clientView(await clients.update(ctx.params.appId!, ctx.params.clientId!, ctx.request.body, rolesOfClientHeld(ctx)));
  });
  router.delete('/:appId/clients/:clientId', requires.permission('applications', 'write'), async (ctx) => {
    await clients.delete(ctx.params.appId!, ctx.params.clientId!, rolesOfClientHeld(ctx));
    await consents.revokeAll({ client_id: ctx.params.clientId! }, admin(ctx));
    ctx.status = 204;
  });

  // rotation: the new secret is shown once and the old one keeps working until it is retired
  router.post('/:appId/clients/:clientId/secrets/rotate', requires.permission('applications', 'write'), async (ctx) => {
    ctx.body = await clients.rotateSecret(ctx.params.appId!, ctx.params.clientId!, rolesOfClientHeld(ctx));
    ctx.status = 201;
  });
  router.delete('/:appId/clients/:clientId/secrets/:secretId', requires.permission('applications', 'write'), async (ctx) => {
    await clients.retireSecret(ctx.params.appId!, ctx.params.clientId!, ctx.params.secretId!, rolesOfClientHeld(ctx));
    ctx.status = 204;
  });
  return router;
}
