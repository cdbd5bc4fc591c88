import Router from '@koa/router';
import type { Store } from '../../adapters/index.js';

const READY_TIMEOUT_MS = 1000;

/** /healthz: the process answers. /readyz: the store answers within a second. */
export function healthRoutes(store: Store): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS); });
    try {
      await Promise.race([store.ping(), timeout]);
      ctx.body = { status: 'ok', store: store.kind };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', store: store.kind };
    } finally {
      clearTimeout(timer);
    }
  });
  return router;
}
