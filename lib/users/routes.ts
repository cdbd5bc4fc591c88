import Router from '@koa/router';
import { notFound } from '../http/errors.js';
import { requires } from '../http/route-access.js';
import { validateBody } from '../http/validate.js';
import { createUserSchema, updateUserSchema } from './schema.js';
import type { UserService } from './service.js';
import type { ConsentService } from '../consents/service.js';
import type { SessionService } from '../sessions/service.js';

/** /v1/users: create, read, update (partial), delete. */
export function userRoutes(users: UserService, consents: ConsentService, sessions: SessionService): Router {
  const router = new Router({ prefix: '/v1/users' });

  router.post('/', requires.permission('users', 'write'), async (ctx) => {
    ctx.status = 201;
    ctx.body = await users.create(validateBody(createUserSchema, ctx.request.body));
  });
  router.get('/:userId', requires.permission('users', 'read'), async (ctx) => {
    ctx.body = await users.get(ctx.params.userId!);
  });
  router.put('/:userId', requires.permission('users', 'write'), async (ctx) => {
    ctx.body = await users.update(ctx.params.userId!, validateBody(updateUserSchema, ctx.request.body));
  });
  router.delete('/:userId', requires.permission('users', 'write'), async (ctx) => {
    const existed = await users.delete(ctx.params.userId!);
    // a deleted user's third parties lose access with the account (and the consents get receipts),
    // and every session, grant and token of theirs ends: browsers, backends, third parties. Run
    // for an id already gone too: a deletion whose clean-up failed (503) is finished by a retry
    await consents.revokeAll({ user_id: ctx.params.userId! }, { type: 'admin', id: ctx.state.managementClientId });
    await sessions.endAllOf(ctx.params.userId!);
    if (!existed) throw notFound('User');
    ctx.status = 204;
  });
  return router;
}
