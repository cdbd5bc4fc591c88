import type { Context, Middleware } from 'koa';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Store } from '../../adapters/store.js';
import { UserCodeGuessing } from './code-guessing.js';
import { devicePages, sendCodeEntry, sendLocked } from './pages.js';


/** Where devices start (seed 002: POST /oidc/device/auth) and where users enter the code. */
export const DEVICE_ROUTES = { device_authorization: '/device/auth', code_verification: '/device' } as const;
/** Seconds a device code (and its user code) is valid: seed 002's `expires_in`. */
export const DEVICE_CODE_TTL = 600;

export interface DeviceFlow {
  /** `features.deviceFlow` of the oidc-provider configuration */
  feature: NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;
  /** runs around oidc-provider's routes (provider.use) */
  middleware: Middleware;
}

/** Matched like oidc-provider's router does: any letter case, optional trailing slash. */
const isCodeEntry = (ctx: Context) => ctx.path.replace(/\/$/, '').toLowerCase() === DEVICE_ROUTES.code_verification;

/**
 * The device flow (RFC 8628) on oidc-provider's `features.deviceFlow`: user codes of 8
 * letters from a 20-letter alphabet without vowels (BCDF-GHJK), typed in any case, dashes
 * and spaces ignored; our own pages; wrong-code locking across instances.
 */
export function deviceFlow(store: Store): DeviceFlow {
  const guessing = new UserCodeGuessing(store);
  return {
    feature: { enabled: true, charset: 'base-20', mask: '****-****', ...devicePages(guessing) },
    // other routes pass straight through: no async layer on the token endpoint's path
    middleware: (ctx, next) => (isCodeEntry(ctx) ? aroundCodeEntry(ctx, next) : next()),
  };

  async function aroundCodeEntry(ctx: Context, next: () => Promise<unknown>): Promise<void> {
    // counted (and a locked session or address refused) before oidc-provider looks the code up
    if (ctx.method === 'POST') {
      const lock = await guessing.attempt(ctx);
      if (lock !== undefined) return sendLocked(ctx, lock);
      try {
        await next();
      } finally {
        await guessing.settle(ctx);
      }
    } else {
      await next();
    }
    // verification_uri_complete: oidc-provider answers with a self-submitting form (script);
    // ours is the code page, prefilled, sent on by the user
    const routed = ctx as unknown as KoaContextWithOIDC;
    const prefilled = routed.oidc?.route === 'code_verification' && ctx.method === 'GET' ? routed.oidc.params?.user_code : undefined;
    if (typeof prefilled === 'string' && ctx.status === 200) sendCodeEntry(routed, { userCode: prefilled });
  }
}
