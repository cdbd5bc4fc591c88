/**
 * Seed 001's redirect-URI rules. Web clients: https, or http on a loopback host (local
 * development). Native clients: the same, or a reverse-domain custom scheme
 * (`com.example.app:/callback`). Never a fragment, never user:password, and matching at
 * the authorization endpoint is exact (oidc-provider compares full strings).
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const REVERSE_DOMAIN_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/;

export type ClientType = 'web' | 'native';

/** Whitespace and C0/C1 controls: the URL parser drops tabs and line breaks and encodes spaces. */
const NOT_IN_A_URI = /[\s\x00-\x1F\x7F-\x9F]/u;

export function redirectUriProblem(value: string, clientType: ClientType): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URI';
  }
  // what is stored must be what is matched and sent: a URI the parser would rewrite is refused
  if (NOT_IN_A_URI.test(value)) return 'must not contain spaces or control characters (CR, LF, tab, ...)';
  if (url.hash || value.includes('#')) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain credentials';
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'https') return undefined;
  if (scheme === 'http') return LOOPBACK_HOSTS.has(url.hostname) ? undefined : 'must use https unless the host is localhost';
  if (clientType === 'native' && REVERSE_DOMAIN_SCHEME.test(scheme)) return undefined;
  return clientType === 'native'
    ? 'must use https, http on localhost, or a reverse-domain custom scheme (com.example.app:/callback)'
    : 'must use https unless the host is localhost';
}
