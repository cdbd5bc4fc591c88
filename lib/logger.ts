import { pino, type DestinationStream, type Logger } from 'pino';
import type { Context, Middleware } from 'koa';
import { pathPrefix, SEED_PREFIX } from './http/prefix.js';

export type { Logger };

/**
 * JSON logs. Nothing here ever logs a body, a query string, a path, a cookie or an
 * Authorization header. `destination`: where lines go (stdout by default; tests read them).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'idp' },
    redact: { paths: ['*.password', '*.client_secret', '*.authorization', '*.cookie'], censor: '[redacted]' },
  }, destination);
}

/** oidc-provider's routes are matched below its mount point: their templates are logged under it. */
const PROVIDER_MOUNT = '/oidc';
/** A path segment kept as it is when no route matched: a lowercase word, never an id, handle or code. */
const WORD = /^\.?[a-z][a-z_.-]{0,31}$|^v\d$/;

/**
 * What a request line names: the template of the route that matched
 * (`/v1/consent-requests/:srcInteraction`, `/oidc/auth/:uid`), never the path itself, whose segments
 * carry live consent handles, interaction uids and the like. Without a matching route, the
 * path's shape: its lowercase words, and `:` for every other segment.
 */
export function routeOf(ctx: Context): string {
  const path = pathPrefix(ctx.path) ? ctx.path.slice(SEED_PREFIX.length) : ctx.path;
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') {
    const underProvider = (path === PROVIDER_MOUNT || path.startsWith(`${PROVIDER_MOUNT}/`)) && !matched.startsWith(`${PROVIDER_MOUNT}/`);
    return underProvider ? `${PROVIDER_MOUNT}${matched}` : matched;
  }
  return path.split('/').map((segment) => (!segment || WORD.test(segment) ? segment : ':')).join('/');
}

/** One line per request: method, route template (no path, no query: codes, handles and tokens travel there), status, ms. */
export function requestLog(logger: Logger): Middleware {
  // with request lines off (level above info), no layer at all: every async layer costs
  if (!logger.isLevelEnabled('info')) return (_ctx, next) => next();
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      logger.info({
        method: ctx.method,
        route: routeOf(ctx),
        status: ctx.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      }, 'request');
    }
  };
}

/**
 * Koa's `error` event: an error no handler answered, mostly a client that cut its connection
 * off mid-request. Koa's default listener prints the stack to stderr; here it is one log line
 * without a stack (a client's broken connection is not our failure: debug).
 */
export function unhandledRequestError(logger: Logger): (err: Error & { code?: string; status?: number; expose?: boolean }) => void {
  return (err) => {
    const byClient = err.expose || (err.status !== undefined && err.status < 500)
      || /^(?:HPE_|ECONNRESET$|EPIPE$|ECONNABORTED$|ERR_STREAM_PREMATURE_CLOSE$)/.test(err.code ?? '');
    const fields = { err: { name: err.name, message: err.message, code: err.code } };
    if (byClient) logger.debug(fields, 'request ended early');
    else logger.error(fields, 'request failed outside every handler');
  };
}

/**
 * A warning for a condition that repeats while it lasts (Redis unreachable: an error on every
 * reconnection attempt): the first at once, then at most one per interval with the number of
 * the others, so that the cause is in the log without flooding it.
 */
export function throttledWarning(logger: Logger, msg: string, intervalMs = 10_000): (err: Error) => void {
  let lastAt = -Infinity;
  let suppressed = 0;
  return (err) => {
    const now = performance.now();
    if (now - lastAt < intervalMs) {
      suppressed += 1;
      return;
    }
    logger.warn({ err: { name: err.name, message: err.message, code: (err as { code?: string }).code }, suppressed }, msg);
    lastAt = now;
    suppressed = 0;
  };
}
