import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { SessionIndex } from './session-index.js';

/** oidc-provider's logout confirmation route below its mount (its router matches any case). */
const LOGOUT_CONFIRM_PATH = /^\/session\/end\/confirm\/?$/i;

/**
 * oidc-provider's logout confirmation (`logout=yes`) revokes the grants the session record
 * lists and deletes the record. Concurrent sign-ins in one browser may each have saved a copy
 * lacking the others' grants, and a request still under way may save its copy again after
 * the deletion; ending the session in the index too revokes every grant it ever registered
 * and undoes such a late save (lib/sessions/session-index.ts).
 */
export function endIndexedSessionAtLogout(index: SessionIndex): Middleware {
  const around: Middleware = async (ctx, next) => {
    await next();
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    const session = oidc?.session as (KoaContextWithOIDC['oidc']['session'] & { destroyed?: boolean }) | undefined;
    if (oidc?.route === 'end_session_confirm' && session?.destroyed) await index.end(session.jti, session);
  };
  // other endpoints pass straight through (no async layer on their path)
  return (ctx, next) => (LOGOUT_CONFIRM_PATH.test(ctx.path) ? around(ctx, next) : next());
}
