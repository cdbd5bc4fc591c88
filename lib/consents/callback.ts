import Router from '@koa/router';
import type { Context } from 'koa';
import type { ClientService } from '../clients/service.js';
import { renderPage } from '../../views/layout.js';
import { errorView } from '../../views/messages.js';
import {
  ANSWER_COOKIE, newBrowserBinding, SRC_INTERACTION, type ConsentDecision, type ConsentRequests,
} from './requests.js';

export const CONSENT_CALLBACK_PATH = '/auth/consent/callback';

export interface ConsentCallbackDeps {
  requests: ConsentRequests;
  clients: ClientService;
  /** public base URL of the IdP: a server-to-server caller must get a URL the browser can open */
  publicUrl: string;
}

/** A top-level browser navigation (a link or form on the consent page), as opposed to fetch/XHR or a server. */
function isNavigation(ctx: Context): boolean {
  const mode = ctx.get('sec-fetch-mode');
  return mode ? mode === 'navigate' : ctx.accepts('json', 'html') === 'html';
}

/** The consent page's origins may read our answer with a cross-origin fetch (no cookies involved). */
async function allowConsentPageOrigin(ctx: Context, clients: ClientService, clientId: string): Promise<void> {
  const origin = ctx.get('origin');
  if (!origin) return;
  const client = await clients.find(clientId);
  if (client?.consent_uris.some((uri) => new URL(uri).origin === origin)) ctx.set('Access-Control-Allow-Origin', origin);
}

/**
 * `GET /auth/consent/callback?src_interaction=...&approved=true|false` (seed 000), called by
 * the first party's consent page. A browser navigation is redirected (303) onward and bound to
 * that browser by a cookie; any other caller gets `200 {"redirect_to": ...}` and must send the
 * user's browser there. Either way the authorization only completes in the browser that
 * started it (interaction cookies).
 */
export function consentCallbackRoutes({ requests, clients, publicUrl }: ConsentCallbackDeps): Router {
  const router = new Router();

  router.get(CONSENT_CALLBACK_PATH, async (ctx) => {
    ctx.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', Vary: 'Origin, Accept, Sec-Fetch-Mode' });
    const navigation = isNavigation(ctx);
    const fail = (description: string, status = 400) => {
      ctx.status = status;
      if (navigation) {
        const page = renderPage({ title: 'Consent error', body: errorView('This consent request cannot be completed', description) });
        ctx.set(page.headers);
        ctx.type = 'html';
        ctx.body = page.html;
      } else {
        ctx.body = { error: 'invalid_request', error_description: description };
      }
    };

    const { src_interaction: handle, approved } = ctx.query;
    if (typeof handle !== 'string' || !SRC_INTERACTION.test(handle)) return fail('src_interaction is missing or malformed');
    let decision: ConsentDecision | undefined;
    try {
      const request = await requests.peek(handle);
      if (request) await allowConsentPageOrigin(ctx, clients, request.client_id);
      if (approved !== 'true' && approved !== 'false') return fail('approved must be true or false');
      // a browser that answers itself must also be the one that picks the answer up
      const binding = navigation && request ? newBrowserBinding() : undefined;
      decision = request && await requests.decide(handle, approved === 'true', binding?.digest);
      if (decision && binding) {
        ctx.cookies.set(ANSWER_COOKIE, binding.cookie, {
          path: decision.continue_path, httpOnly: true, sameSite: 'lax', secure: publicUrl.startsWith('https://'), signed: true,
        });
      }
    } catch {
      // the store is unreachable: a JSON or HTML answer the consent page can show, not a crash
      ctx.set('Retry-After', '1');
      return fail('the consent service is temporarily unavailable, try again', 503);
    }
    if (!decision) return fail('src_interaction is unknown, expired or already used');

    const redirectTo = `${publicUrl}${decision.continue_path}`;
    if (navigation) {
      ctx.status = 303;
      ctx.redirect(redirectTo);
    } else {
      ctx.body = { redirect_to: redirectTo };
    }
  });

  return router;
}
