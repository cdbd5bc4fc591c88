import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { UserService } from '../lib/users/service.js';
import { pathPrefix } from '../lib/http/prefix.js';
import { isStoreUnavailable } from '../lib/http/errors.js';
import { formBody } from '../lib/http/body.js';
import { renderPage } from '../views/layout.js';
import { loginView } from '../views/login.js';
import { errorView } from '../views/messages.js';
import type { SafeHtml } from '../views/html.js';
import { answerFirstPartyConsent } from './consent.js';
import { ThirdPartyConsent } from './third-party-consent.js';
import { ANSWER_COOKIE } from '../lib/consents/requests.js';
import { isThirdParty } from '../policies/first-party.js';
import type { ClientExtras } from '../lib/provider/client-extras.js';

export interface InteractionDeps {
  provider: Provider;
  users: UserService;
  /** secret for the login form's CSRF token */
  csrfKey: string;
  uiLocales: readonly string[];
  thirdPartyConsent: ThirdPartyConsent;
}

const INVALID_CREDENTIALS = 'The identifier or password is incorrect.';
const lockedOut = (seconds: number) => `Too many wrong passwords. Try again in ${Math.ceil(seconds / 60)} minute${seconds > 60 ? 's' : ''}.`;
/** A third-party client saved before Consent URIs were required cannot ask anyone. */
const NO_CONSENT_URI = { error: 'access_denied', error_description: 'no Consent URI is configured for this client' };

function send(ctx: Context, title: string, body: SafeHtml, status = 200, lang?: string): void {
  const page = renderPage({ title, body, lang });
  ctx.set(page.headers);
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = page.html;
}

/**
 * The hosted login (`/interaction/:uid`). The interaction cookie is SameSite=Lax and the form
 * carries an HMAC of the interaction uid, so a cross-site POST can neither reach the
 * interaction nor forge the token.
 */
export function interactionRoutes({ provider, users, csrfKey, uiLocales, thirdPartyConsent }: InteractionDeps): Router {
  const router = new Router();
  const csrfFor = (uid: string) => createHmac('sha256', csrfKey).update(`login:${uid}`).digest('base64url');
  const csrfValid = (uid: string, token: unknown) => {
    const expected = Buffer.from(csrfFor(uid));
    const actual = Buffer.from(typeof token === 'string' ? token : '');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  };
  const interactionPath = (ctx: Context, uid: string) => `${pathPrefix(ctx.originalUrl)}/interaction/${uid}`;
  const langFor = (requested: unknown) => String(requested ?? '').split(' ').find((l) => uiLocales.includes(l)) ?? uiLocales[0];

  async function finish(ctx: Context, result: InteractionResults, merge: boolean): Promise<void> {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  async function details(ctx: Context) {
    try {
      const found = await provider.interactionDetails(ctx.req, ctx.res);
      if (found.uid !== ctx.params.uid) throw new Error('uid mismatch');
      return found;
    } catch (err) {
      // a store outage is not an expired link: htmlErrors answers 503, and the link works later
      if (isStoreUnavailable(err)) throw err;
      send(ctx, 'Sign-in expired', errorView('This sign-in link has expired', 'Return to the application and start again.'), 400);
      return undefined;
    }
  }

  async function showLogin(ctx: Context, uid: string, params: Record<string, unknown>, error?: { message: string; status: number }, identifier?: string) {
    const client = await provider.Client.find(String(params.client_id));
    const base = interactionPath(ctx, uid);
    send(ctx, 'Sign in', loginView({
      action: `${base}/login`,
      abortUrl: `${base}/abort`,
      csrf: csrfFor(uid),
      clientName: client?.clientName ?? String(params.client_id),
      identifier: identifier ?? (typeof params.login_hint === 'string' ? params.login_hint : undefined),
      error: error?.message,
    }), error?.status ?? 200, langFor(params.ui_locales));
  }

  router.get('/interaction/:uid', async (ctx) => {
    const found = await details(ctx);
    if (!found) return;
    if (found.prompt.name === 'login') return showLogin(ctx, found.uid, found.params);
    const client = await provider.Client.find(String(found.params.client_id));
    if (!client || !isThirdParty(client)) return finish(ctx, await answerFirstPartyConsent(provider, found), true);
    // third party: the first party's consent page asks; its answer comes back to /consent below
    if (!(client as ClientExtras).consent_uris?.length) return finish(ctx, NO_CONSENT_URI, false);
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.status = 303;
    ctx.redirect(await thirdPartyConsent.consentPageUrl(found, client, `${interactionPath(ctx, found.uid)}/consent`));
  });

  router.get('/interaction/:uid/consent', async (ctx) => {
    const found = await details(ctx);
    if (!found) return;
    const client = await provider.Client.find(String(found.params.client_id));
    const decision = found.prompt.name === 'consent' && client && isThirdParty(client)
      ? await thirdPartyConsent.takeDecision(found, ctx.cookies.get(ANSWER_COOKIE, { signed: true })) : undefined;
    if (!client || !decision) {
      send(ctx, 'Consent error', errorView('No consent answer is waiting', 'Return to the application and start again.'), 400);
      return;
    }
    return finish(ctx, await thirdPartyConsent.apply(found, client, decision), decision.approved);
  });

  router.post('/interaction/:uid/login', formBody('16kb'), async (ctx) => {
    const found = await details(ctx);
    if (!found) return;
    const form = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (found.prompt.name !== 'login' || !csrfValid(found.uid, form.csrf)) {
      send(ctx, 'Sign-in error', errorView('This form is no longer valid', 'Go back, reload the page and try again.'), 403);
      return;
    }
    const identifier = typeof form.identifier === 'string' ? form.identifier : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const check = identifier && password && password.length <= 256
      ? await users.authenticate(identifier, password, { ip: ctx.ip }) : { outcome: 'wrong' as const };
    if (check.outcome === 'locked') {
      ctx.set('Retry-After', String(check.retryAfterSeconds));
      return showLogin(ctx, found.uid, found.params, { message: lockedOut(check.retryAfterSeconds), status: 429 }, identifier);
    }
    if (check.outcome === 'wrong') return showLogin(ctx, found.uid, found.params, { message: INVALID_CREDENTIALS, status: 401 }, identifier);
    return finish(ctx, { login: { accountId: check.user.user_id, amr: ['pwd'], acr: 'sfa' } }, false);
  });

  router.get('/interaction/:uid/abort', async (ctx) => {
    const found = await details(ctx);
    if (!found) return;
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  });

  return router;
}
