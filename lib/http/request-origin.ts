import type { Context } from 'koa';

/**
 * oidc-provider builds URLs (discovery, form actions, redirects) from the request's origin,
 * which behind a proxy comes from X-Forwarded-Proto and X-Forwarded-Host. An origin that is
 * not an http(s) scheme and a bare host name makes every such URL invalid (a TypeError, 500):
 * those requests are refused up front.
 */
export function refuseUnusableOrigin(ctx: Context): void {
  ctx.status = 400;
  ctx.body = { message: 'Bad request: the Host (or X-Forwarded-Host / -Proto) header is not a usable origin', error_code: 400 };
}

/** host[:port], an IPv6 literal included; nothing that would add a path, credentials or a query */
const HOST = /^[A-Za-z0-9._~-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** the last origin found usable: nearly every request of a deployment has the same one */
let lastUsable = '';

export function isUsableOrigin(protocol: string, host: string): boolean {
  const origin = `${protocol}://${host}`;
  if (origin === lastUsable) return true;
  if ((protocol !== 'http' && protocol !== 'https') || !HOST.test(host)) return false;
  try {
    if (new URL(origin).hostname === '') return false;
  } catch {
    return false;
  }
  lastUsable = origin;
  return true;
}
