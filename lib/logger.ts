import { pino, type Logger } from 'pino';
import type { Middleware } from 'koa';

export type { Logger };

/** JSON logs. Nothing here ever logs a body, a query string, a cookie or an Authorization header. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'idp' },
    redact: { paths: ['*.password', '*.client_secret', '*.authorization', '*.cookie'], censor: '[redacted]' },
  });
}

/** One line per request: method, path without the query (codes and tokens travel there), status, ms. */
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
        path: ctx.path,
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
