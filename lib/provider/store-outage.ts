import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { isStoreUnavailable } from '../http/errors.js';

const TEMPORARILY_UNAVAILABLE = {
  error: 'temporarily_unavailable',
  error_description: 'the service is temporarily unavailable, try again',
};

/**
 * oidc-provider answers every failure it did not raise itself as `500 server_error`, and a
 * failure in a middleware around its routes becomes Koa's plain 500. A store outage is
 * temporary and not the client's fault: it is answered `503 temporarily_unavailable` with
 * `Retry-After`, as our REST APIs do. Must be the first `provider.use`.
 */
export function storeOutageAnswers(provider: Provider): Middleware {
  const failed = new WeakSet<Context>();
  provider.on('server_error', (ctx, err) => {
    if (isStoreUnavailable(err)) failed.add(ctx as unknown as Context);
  });
  const answer = (ctx: Context) => {
    ctx.status = 503;
    ctx.set('Retry-After', '1');
    // an HTML error page rendered by the library stays; JSON callers get the OAuth error
    if (!ctx.body || typeof ctx.body !== 'string') ctx.body = TEMPORARILY_UNAVAILABLE;
  };
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      ctx.body = undefined;
      answer(ctx);
      return;
    }
    if (failed.has(ctx)) answer(ctx);
  };
}
