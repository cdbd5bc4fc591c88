/**
 * The seeds address every endpoint under `/cis` (`/cis/oidc/auth`, `/cis/v1/users`); we serve
 * each path both with and without it. URLs we generate keep the prefix the request came in on.
 */
export const SEED_PREFIX = '/cis';

export function pathPrefix(originalUrl: string): string {
  return originalUrl === SEED_PREFIX || originalUrl.startsWith(`${SEED_PREFIX}/`) || originalUrl.startsWith(`${SEED_PREFIX}?`) ? SEED_PREFIX : '';
}
