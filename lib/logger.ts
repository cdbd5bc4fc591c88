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
