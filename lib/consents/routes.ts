import Router from '@koa/router';
import type { Context } from 'koa';
import { ApiError, notFound } from '../http/errors.js';
import { requires } from '../http/route-access.js';
import type { ConsentFilter, ConsentService } from './service.js';
import { SRC_INTERACTION, type ConsentRequests } from './requests.js';

/** `?user_id=&client_id=`: each at most once, as strings. */
function filterOf(ctx: Context): ConsentFilter {
  const filter: ConsentFilter = {};
  for (const name of ['user_id', 'client_id'] as const) {
    const value = ctx.query[name];
    if (Array.isArray(value)) throw new ApiError(400, `${name} must be given at most once`);
    if (value) filter[name] = value;
  }
  return filter;
}

/** Consent APIs for administrators (seed 000 "Consent APIs") and the receipts behind them. */
export function consentRoutes(consents: ConsentService, requests: ConsentRequests): Router {
  const router = new Router({ prefix: '/v1' });

  // for a consent page's server: who and what a src_interaction is about, before it shows the page
  router.get('/consent-requests/:srcInteraction', requires.permission('consent-requests', 'read'), async (ctx) => {
    const handle = ctx.params.srcInteraction!;
    const request = SRC_INTERACTION.test(handle) ? await requests.peek(handle) : undefined;
    if (!request) throw notFound('Consent request');
    ctx.body = { user_id: request.user_id, client_id: request.client_id, requested_scope: request.scopes, expires_at: request.expires_at };
  });

  router.get('/consents', requires.permission('consents', 'read'), async (ctx) => {
    ctx.body = { consents: await consents.list(filterOf(ctx)) };
  });
  router.get('/consents/:consentId', requires.permission('consents', 'read'), async (ctx) => {
    ctx.body = await consents.get(ctx.params.consentId!);
  });
  router.delete('/consents/:consentId', requires.permission('consents', 'write'), async (ctx) => {
    await consents.revoke(ctx.params.consentId!, { type: 'admin', id: ctx.state.managementClientId });
    ctx.status = 204;
  });
  router.get('/consent-receipts', requires.permission('consent-receipts', 'read'), async (ctx) => {
    const filter = filterOf(ctx);
    if (!filter.user_id && !filter.client_id) throw new ApiError(400, 'user_id or client_id is required');
    ctx.body = { receipts: await consents.receipts(filter) };
  });
  return router;
}

/** Self-service: the signed-in user lists and withdraws their own consents. */
export function myConsentRoutes(consents: ConsentService): Router {
  const router = new Router({ prefix: '/v1/me' });

  router.get('/consents', requires.ownUser(), async (ctx) => {
    ctx.body = { consents: await consents.list({ user_id: ctx.state.userId }) };
  });
  router.delete('/consents/:consentId', requires.ownUser(), async (ctx) => {
    const userId: string = ctx.state.userId;
    const consent = await consents.find(ctx.params.consentId!);
    // another user's consent is as unknown as a missing one
    if (consent?.user_id !== userId) throw notFound('Consent');
    await consents.revoke(consent.consent_id, { type: 'user', id: userId });
    ctx.status = 204;
  });
  return router;
}
