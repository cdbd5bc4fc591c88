import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import Router from '@koa/router';
import { koaBody } from 'koa-body';
import { consentPage, messagePage } from './view.js';

/**
 * A first party's Consent URI (seed 000 step 3), as an operator would build it: show what the
 * third party asks for, then tell the IdP the answer with the seed's GET callback, called from
 * this server, and send the browser where the IdP says.
 *
 * A real bank would first make sure its own customer is signed in here. The src_interaction
 * is unguessable and single-use, so it also protects the form against cross-site posts.
 */
export function consentPageApp(idpUrl: string): Koa {
  const router = new Router();
  const list = (value: string | string[] | undefined) => (Array.isArray(value) ? value : value ? [value] : []);

  router.get('/consent', (ctx) => {
    const srcInteraction = ctx.query.src_interaction;
    if (typeof srcInteraction !== 'string') {
      ctx.status = 400;
      ctx.body = messagePage('Nothing to approve', 'This page is opened by the sign-in of another app.');
      return;
    }
    ctx.body = consentPage({
      srcInteraction,
      clientName: String(ctx.query.client_name ?? ctx.query.client_id ?? 'An app'),
      requested: list(ctx.query.requested_scope),
      granted: list(ctx.query.granted_scope),
    });
  });

  router.post('/consent', koaBody({ urlencoded: true, json: false }), async (ctx) => {
    const form = ctx.request.body as Record<string, string>;
    const query = new URLSearchParams({
      src_interaction: String(form.src_interaction ?? ''),
      approved: String(form.decision === 'approve'),
    }).toString();
    const answer = await fetch(`${idpUrl}/cis/auth/consent/callback?${query}`, { method: 'GET' })
      .then((response) => response.json() as Promise<{ redirect_to?: string; error_description?: string }>)
      .catch(() => ({ redirect_to: undefined, error_description: 'The sign-in service cannot be reached. Try again later.' }));
    if (!answer.redirect_to) {
      ctx.status = 400;
      ctx.body = messagePage('This request has ended', answer.error_description ?? 'Go back to the app and try again.');
      return;
    }
    ctx.status = 303;
    ctx.redirect(answer.redirect_to);
  });

  const app = new Koa();
  app.use(async (ctx, next) => {
    await next();
    ctx.set({
      // src_interaction is in this page's URL: it must not leak through Referer
      'Referrer-Policy': 'no-referrer',
      // no form-action: the answer redirects on to the IdP and then to the third party's
      // redirect URI, and form-action would apply to every hop of that chain
      'Content-Security-Policy': "default-src 'none'",
      'Cache-Control': 'no-store',
    });
  });
  app.use(router.routes());
  return app;
}

// `node dist/examples/consent-page/server.js` (IDP_URL, PORT)
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const idpUrl = process.env.IDP_URL ?? 'http://localhost:3000';
  const port = Number(process.env.PORT ?? 4000);
  consentPageApp(idpUrl).listen(port, () => console.log(`consent page on http://localhost:${port}/consent (IdP ${idpUrl})`));
}
