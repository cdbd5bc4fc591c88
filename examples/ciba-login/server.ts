import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import Koa, { type Context } from 'koa';
import Router from '@koa/router';
import { koaBody } from 'koa-body';
import * as oidc from 'openid-client';
import { answerPage, messagePage, startPage } from './view.js';

export interface CibaLoginOptions {
  /** the IdP, e.g. http://localhost:3000 */
  idpUrl: string;
  /** a first-party client of the IdP whose redirect URIs include `${baseUrl}/ciba/callback` */
  clientId: string;
  clientSecret: string;
  /** where this app is reached */
  baseUrl: string;
}

/** One backchannel request being answered in this browser (a real app keeps it in its session store). */
interface Attempt { authReqId: string; bindingMessage?: string; state?: string; verifier?: string; accessToken?: string }

const COOKIE = 'ciba_attempt';

/**
 * A first party's CIBA login endpoint (seed 003 step 1), the `login_uri` of a CIBA client:
 * shows the binding message, signs the user in with the IdP's hosted login as a first-party
 * OIDC client, asks Allow / Don't allow and reports the answer with the user's access token
 * to POST /auth/backchannel/complete.
 */
export function cibaLoginApp({ idpUrl, clientId, clientSecret, baseUrl }: CibaLoginOptions): Koa {
  const attempts = new Map<string, Attempt>();
  let discovered: Promise<oidc.Configuration> | undefined;
  const idp = () => (discovered ??= oidc.discovery(new URL(`${idpUrl}/oidc`), clientId, clientSecret, undefined,
    idpUrl.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : undefined));
  const redirectUri = `${baseUrl}/ciba/callback`;
  const attemptOf = (ctx: Context) => attempts.get(ctx.cookies.get(COOKIE) ?? '');
  const ended = (ctx: Context) => {
    ctx.status = 400;
    ctx.body = messagePage('This request has ended', 'Ask the agent to send you a new link.');
  };

  const router = new Router();
  router.get('/ciba', (ctx) => {
    const { auth_req_id: authReqId, binding_message: bindingMessage } = ctx.query;
    if (typeof authReqId !== 'string') return ended(ctx);
    const id = randomBytes(32).toString('base64url');
    attempts.set(id, { authReqId, bindingMessage: typeof bindingMessage === 'string' ? bindingMessage : undefined });
    ctx.cookies.set(COOKIE, id, { httpOnly: true, sameSite: 'lax', secure: ctx.secure });
    ctx.body = startPage(attempts.get(id)!.bindingMessage);
  });

  // a fresh sign-in: the agent acts on the strength of it
  router.get('/ciba/sign-in', async (ctx) => {
    const attempt = attemptOf(ctx);
    if (!attempt) return ended(ctx);
    attempt.state = oidc.randomState();
    attempt.verifier = oidc.randomPKCECodeVerifier();
    ctx.redirect(oidc.buildAuthorizationUrl(await idp(), {
      redirect_uri: redirectUri, scope: 'openid', prompt: 'login', state: attempt.state,
      code_challenge: await oidc.calculatePKCECodeChallenge(attempt.verifier), code_challenge_method: 'S256',
    }).href);
  });

  router.get('/ciba/callback', async (ctx) => {
    const attempt = attemptOf(ctx);
    if (!attempt?.verifier) return ended(ctx);
    const tokens = await oidc.authorizationCodeGrant(await idp(), new URL(ctx.originalUrl, baseUrl), {
      pkceCodeVerifier: attempt.verifier, expectedState: attempt.state,
    });
    attempt.accessToken = tokens.access_token;
    ctx.body = answerPage(attempt.bindingMessage);
  });

  router.post('/ciba/answer', koaBody({ urlencoded: true, json: false }), async (ctx) => {
    const attempt = attemptOf(ctx);
    if (!attempt?.accessToken) return ended(ctx);
    attempts.delete(ctx.cookies.get(COOKIE)!);
    const approved = (ctx.request.body as Record<string, string>).decision === 'approve';
    const response = await fetch(`${idpUrl}/cis/auth/backchannel/complete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${attempt.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ auth_req_id: attempt.authReqId, approved }),
    });
    if (!response.ok) {
      ctx.status = 400;
      ctx.body = messagePage('This request cannot be answered', ((await response.json()) as { message: string }).message);
      return;
    }
    ctx.body = approved
      ? messagePage('Done', 'The agent can now help you. You can close this page.')
      : messagePage('Access refused', 'The agent was not given access. You can close this page.');
  });

  const app = new Koa();
  app.proxy = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch {
      ctx.status = 400;
      ctx.body = messagePage('Sign-in failed', 'Open the link from your message again.');
    }
    // auth_req_id is in this page's URL: it must not leak through Referer
    ctx.set({ 'Referrer-Policy': 'no-referrer', 'Content-Security-Policy': "default-src 'none'", 'Cache-Control': 'no-store' });
  });
  app.use(router.routes());
  return app;
}

// `node dist/examples/ciba-login/server.js` (IDP_URL, CLIENT_ID, CLIENT_SECRET, PORT, PUBLIC_URL)
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.env.PORT ?? 4001);
  const { CLIENT_ID: clientId, CLIENT_SECRET: clientSecret } = process.env;
  if (!clientId || !clientSecret) throw new Error('set CLIENT_ID and CLIENT_SECRET (a first-party client with redirect URI <PUBLIC_URL>/ciba/callback)');
  const baseUrl = process.env.PUBLIC_URL ?? `http://localhost:${port}`;
  cibaLoginApp({ idpUrl: process.env.IDP_URL ?? 'http://localhost:3000', clientId, clientSecret, baseUrl })
    .listen(port, () => console.log(`CIBA login page on ${baseUrl}/ciba (login_uri), IdP ${process.env.IDP_URL ?? 'http://localhost:3000'}`));
}
