import Router from '@koa/router';
import * as yup from 'yup';
import { ApiError } from '../http/errors.js';
import { requires } from '../http/route-access.js';
import { validateBody } from '../http/validate.js';
import { callingClient } from '../sessions/app-client.js';
import { sessionId, tokenRequestFields } from '../sessions/schema.js';
import type { SessionService } from '../sessions/service.js';
import type { OtpService } from './service.js';

const sendSchema = yup.object({
  channel: yup.string().oneOf(['email', 'sms'] as const).required(),
  identifier: yup.string().required().max(254),
}).noUnknown();

const authenticateSchema = yup.object({
  identifier: yup.string().required().max(254),
  passcode: yup.string().required().max(32),
  session_id: sessionId,
  ...tokenRequestFields,
}).noUnknown();

/** Backend one-time passcode authentication (seed 004) under /v1/auth/otp. */
export function otpRoutes(otp: OtpService, sessions: SessionService, passcodeTtl: number): Router {
  const router = new Router({ prefix: '/v1/auth/otp' });

  router.post('/send', requires.appClient(), async (ctx) => {
    const { channel, identifier } = validateBody(sendSchema, ctx.request.body);
    await otp.send(channel, identifier);
    ctx.body = { message: 'Passcode sent', expires_in: passcodeTtl };
  });

  router.post('/authenticate', requires.appClient(), async (ctx) => {
    const { identifier, passcode, session_id, resource, claims } = validateBody(authenticateSchema, ctx.request.body);
    const userId = await otp.verify(identifier, passcode);
    if (!userId) throw new ApiError(400, 'The passcode is invalid or expired');
    ctx.body = await sessions.signIn(ctx, callingClient(ctx), userId, 'otp', session_id, { resource, claims });
  });

  return router;
}
