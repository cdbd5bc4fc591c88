import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';

/** An error our REST endpoints answer as `{ message, error_code }` (seed 002's shape). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, `${what} not found`);
export const conflict = (message: string) => new ApiError(409, message);

/**
 * True for errors that mean "the store cannot serve now": ioredis connection errors and
 * timeouts, and Redis refusing writes while full (OOM under `noeviction`), read-only (a
 * replica, during a failover) or loading its data.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string; previousErrors?: unknown[] };
  return e?.name === 'MaxRetriesPerRequestError' || e?.name === 'ClusterAllFailedError'
    || e?.code === 'ECONNREFUSED'
    || /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out/.test(e?.message ?? '')
    || /^(?:OOM|READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /.test(e?.message ?? '')
    // a transaction (MULTI) refused for one of these reasons
    || (Array.isArray(e?.previousErrors) && e.previousErrors.some(isStoreUnavailable));
}

/**
 * Turns every failure of our REST routes into `{ message, error_code }`; never a stack trace.
 * Body-parser errors carry a 4xx status and are answered as such.
 */
export function jsonErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ApiError(404, 'Not found');
      if (ctx.status === 405 && ctx.body === undefined) throw new ApiError(405, 'Method not allowed');
    } catch (err) {
      let status = 500;
      let message = 'Something went wrong - Internal server error';
      if (err instanceof ApiError) {
        ({ status, message } = err);
        ctx.set(err.headers);
      } else if (isStoreUnavailable(err)) {
        status = 503;
        message = 'Service temporarily unavailable';
        ctx.set('Retry-After', '1');
      } else {
        const httpStatus = (err as { status?: number; expose?: boolean }).status;
        if (httpStatus && httpStatus >= 400 && httpStatus < 500) {
          status = httpStatus;
          message = httpStatus === 413 ? 'Request body too large' : 'Bad request';
        }
      }
      if (status >= 500) logger.error({ err: { name: (err as Error).name, message: (err as Error).message, stack: (err as Error).stack } }, 'request failed');
      ctx.status = status;
      ctx.body = { message, error_code: status };
    }
  };
}

/** For a `.catch` where "already gone" is as good as done: swallows a 404, rethrows anything else. */
export function unlessNotFound(err: unknown): void {
  if (!(err instanceof ApiError && err.status === 404)) throw err;
}
