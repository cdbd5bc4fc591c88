import Router from '@koa/router';
import type { ApplicationService } from '../applications/service.js';
import { unlessNotFound } from '../http/errors.js';
import { requires } from '../http/route-access.js';
import type { ResourceService } from './service.js';

/** /v1/applications/{appId}/resources (seed 001, "Resources"). */
export function resourceRoutes(apps: ApplicationService, resources: ResourceService): Router {
  const router = new Router({ prefix: '/v1/applications/:appId/resources' });

  router.post('/', requires.permission('applications', 'write'), async (ctx) => {
    const created = await apps.addTo(
      ctx.params.appId!,
      () => resources.create(ctx.params.appId!, ctx.request.body),
      (made) => resources.delete(ctx.params.appId!, made.resource_id).catch(unlessNotFound),
    );
    ctx.status = 201;
    ctx.body = created;
  });
  router.get('/', requires.permission('applications', 'read'), async (ctx) => {
    await apps.get(ctx.params.appId!);
    ctx.body = { resources: await resources.list(ctx.params.appId!) };
  });
  router.get('/:resourceId', requires.permission('applications', 'read'), async (ctx) => {
    ctx.body = await resources.get(ctx.params.appId!, ctx.params.resourceId!);
  });
  router.put('/:resourceId', requires.permission('applications', 'write'), async (ctx) => {
    ctx.body = await resources.update(ctx.params.appId!, ctx.params.resourceId!, ctx.request.body);
  });
  router.delete('/:resourceId', requires.permission('applications', 'write'), async (ctx) => {
    await resources.delete(ctx.params.appId!, ctx.params.resourceId!);
    ctx.status = 204;
  });
  return router;
}
