import Router from '@koa/router';
import { ApiError } from '../http/errors.js';
import { requires } from '../http/route-access.js';
import { validateBody } from '../http/validate.js';
import type { UserService } from '../users/service.js';
import { callingClient } from './app-client.js';
import { passwordAuthenticateSchema, sessionAuthenticateSchema, sessionLogoutSchema } from './schema.js';
import type { SessionService } from './service.js';

/** Backend password authentication and the session APIs (seed 004) under /v1/auth. */
export function sessionRoutes(sessions: SessionService, users: UserService): Router {
  const router = new Router({ prefix: '/v1/auth' });

  router.post('/password/authenticate', requires.appClient(), async (ctx) => {
    const { identifier, password, session_id, resource, claims } = validateBody(passwordAuthenticateSchema, ctx.request.body);
    const client = callingClient(ctx);
    const check = await users.authenticate(identifier, password, { client: client.clientId });
    if (check.outcome === 'locked') {
      throw new ApiError(429, 'Too many wrong passwords for this identifier; try again later', { 'Retry-After': String(check.retryAfterSeconds) });
    }
    // as the hosted login: never which of the two was wrong
    if (check.outcome === 'wrong') throw new ApiError(400, 'The identifier or password is incorrect');
    ctx.body = await sessions.signIn(ctx, client, check.user.user_id, 'pwd', session_id, { resource, claims });
  });

  router.post('/session/authenticate', requires.appClient(), async (ctx) => {
    const { session_id, resource, claims } = validateBody(sessionAuthenticateSchema, ctx.request.body);
    ctx.body = await sessions.authenticate(ctx, callingClient(ctx), session_id, { resource, claims });
  });

  router.post('/session/logout', requires.appClient(), async (ctx) => {
    const { session_id } = validateBody(sessionLogoutSchema, ctx.request.body);
    await sessions.logout(session_id);
    ctx.status = 204;
  });

  return router;
}
