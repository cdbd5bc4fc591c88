import Router from '@koa/router';
import { requireHeldRoles } from '../http/admin-auth.js';
import { requires } from '../http/route-access.js';
import type { ClientService } from '../clients/service.js';
import type { GrantService } from './service.js';

/**
 * Revoking every token of one client at once (a leaked secret: retiring it stops new tokens,
 * this ends the ones already minted). In the `applications` area, with the same role check as
 * rotating the client's secrets.
 */
export function clientTokenRoutes(clients: ClientService, grants: GrantService): Router {
  const router = new Router({ prefix: '/v1/applications' });

  router.post('/:appId/clients/:clientId/tokens/revoke', requires.permission('applications', 'write'), async (ctx) => {
    const client = await clients.get(ctx.params.appId!, ctx.params.clientId!);
    requireHeldRoles(ctx, client.roles);
    await grants.revokeAllOfClient(client.client_id);
    ctx.status = 204;
  });
  return router;
}
