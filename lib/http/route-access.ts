import type Router from '@koa/router';
import type { Layer } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { ApiError } from './errors.js';
import type { Access, Permission } from './permissions.js';

/**
 * Who may call a /v1 route, declared on the route itself (as Keycloak's `handle.access`):
 *
 *     router.put('/:userId', requires.permission('users', 'write'), handler)
 *
 * The surface's guard reads the declaration of the route a request matches before that route
 * runs (`declaredAccess`). A route that declares nothing, or declares another surface, is refused:
 * forgetting the check fails closed, and test/api/route-permissions.test.ts lists every route.
 */
export type RouteAccess =
  /** management API: a client access token whose roles grant the permission */
  | { surface: 'management'; permission: Permission }
  /** /v1/auth: the calling first-party app's own client access token (lib/sessions/app-client.ts) */
  | { surface: 'backend-auth' }
  /** /v1/me: the signed-in user's own access token (lib/http/user-auth.ts) */
  | { surface: 'self-service' };
export type Surface = RouteAccess['surface'];

const DECLARED = Symbol('route access');
type Declaration = Middleware & { readonly [DECLARED]: RouteAccess };

/** A middleware that does nothing but carry the declaration where the guard finds it. */
function declaration(access: RouteAccess): Declaration {
  return Object.assign((_ctx: Context, next: () => Promise<unknown>) => next(), { [DECLARED]: access });
}

export const requires = {
  permission: (area: string, access: Access) => declaration({ surface: 'management', permission: { area, access } }),
  appClient: () => declaration({ surface: 'backend-auth' }),
  ownUser: () => declaration({ surface: 'self-service' }),
};

/** The access a route layer declares, if it declares one. */
export function declarationOf(layer: Layer): RouteAccess | undefined {
  const found = layer.stack.find((middleware) => Object.hasOwn(middleware, DECLARED)) as Declaration | undefined;
  return found?.[DECLARED];
}

/** Routes, not router-level middleware (`router.use`). */
export const routeLayers = (router: Router): Layer[] => router.stack.filter((layer) => layer.methods.length > 0);

const undeclared = () => new ApiError(403, 'Forbidden: this route declares no permission');

/**
 * The declarations of every route (path and method) this request matches in these routers, as
 * they would dispatch it; 403 when one declares nothing or belongs to another surface. No match
 * gives [] and the routers answer as for any unknown path.
 */
export function declaredAccess<S extends Surface>(routers: readonly Router[], ctx: Context, surface: S): Extract<RouteAccess, { surface: S }>[] {
  return routers.flatMap((router) => router.match(ctx.path, ctx.method).pathAndMethod
    .filter((layer) => layer.methods.length > 0)
    .map((layer) => {
      const access = declarationOf(layer);
      if (access?.surface !== surface) throw undeclared();
      return access as Extract<RouteAccess, { surface: S }>;
    }));
}

/** For surfaces whose authentication is the whole check: refuse routes not declared for it. */
export function onlyDeclaredRoutes(routers: readonly Router[], surface: Exclude<Surface, 'management'>): Middleware {
  return (ctx, next) => {
    declaredAccess(routers, ctx, surface);
    return next();
  };
}
