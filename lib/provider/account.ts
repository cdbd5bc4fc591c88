import type { Account, ClaimsParameterMember, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { User, UserService } from '../users/service.js';
import type { ApplicationService } from '../applications/service.js';
import type { ClientExtras } from './client-extras.js';
import { PREDEFINED_CLAIMS, predefinedClaimValues, selectedClaims, type ClaimSources } from './predefined-claims.js';
import { ORG_ID_CLAIM, requestedOrgId } from './org-id.js';

/** Standard claims per scope (OIDC Core 5.4); `sub` always. */
export const SCOPE_CLAIMS: Record<string, string[]> = {
  // auth_time, acr and amr say when and how the user authenticated (seeds 001, 004); org_id
  // comes with the authorization request's organization context (org-id.ts), never from the user
  openid: ['sub', 'auth_time', 'acr', 'amr', ORG_ID_CLAIM],
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'preferred_username', 'picture', 'birthdate', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
};

/** The claims a set of scopes releases. */
export function claimsOfScopes(scopes: Iterable<string>): Set<string> {
  return new Set([...scopes].flatMap((scope) => SCOPE_CLAIMS[scope] ?? []));
}

/**
 * oidc-provider's `claims` configuration. The predefined claims are declared under `openid`:
 * the ID token is masked with `openid` only (conformIdTokenClaims) and undeclared claims are
 * dropped, so this is what lets a client's selection through. What is actually released is
 * decided per client by Account.claims.
 */
export function claimsConfiguration(scopes: readonly string[]): Record<string, string[]> {
  const config = Object.fromEntries(scopes.map((scope) => [scope, SCOPE_CLAIMS[scope] ?? []]));
  config.openid = [...new Set([...SCOPE_CLAIMS.openid!, ...PREDEFINED_CLAIMS])];
  return config;
}

/**
 * Claims a `claims` request may add to a grant: those the client's allowed scopes cover. The
 * rest are to be rejected, so a client cannot reach past its scopes through `claims`.
 */
export function claimsWithinScopes(requested: Iterable<string>, clientScope: string | undefined): { granted: string[]; rejected: string[] } {
  const allowed = claimsOfScopes((clientScope ?? '').split(' '));
  const names = [...new Set(requested)];
  return { granted: names.filter((c) => allowed.has(c)), rejected: names.filter((c) => !allowed.has(c)) };
}

/** Maps our user record onto OIDC standard claims. */
export function standardClaims(user: User): Record<string, unknown> {
  const name = [user.given_name, user.middle_name, user.family_name].filter(Boolean).join(' ') || undefined;
  return {
    sub: user.user_id,
    name,
    given_name: user.given_name,
    family_name: user.family_name,
    middle_name: user.middle_name,
    preferred_username: user.username,
    picture: user.picture,
    birthdate: user.birthday,
    locale: user.language,
    updated_at: user.updated_at,
    email: user.email,
    email_verified: user.email ? user.email_verified : undefined,
    phone_number: user.phone_number,
    phone_number_verified: user.phone_number ? user.phone_number_verified : undefined,
    address: user.address && { ...user.address },
  };
}

type Requested = Record<string, ClaimsParameterMember | null>;
type Token = Parameters<FindAccount>[2];

export interface AccountDeps {
  users: UserService;
  apps: ApplicationService;
  tenantId: string;
}

/**
 * The user's standard claims, for oidc-provider to mask with the granted scopes and the
 * `claims` parameter. Every predefined claim is declared under `openid`, so the standard
 * claims that share a predefined name (email, picture, address, ...) would pass the `openid`
 * mask: they are withheld here unless their scope releases them (userinfo only: the ID token
 * carries scope claims only when requested, as conformIdTokenClaims wants) or the `claims`
 * parameter asks for them.
 */
function releasedStandardClaims(user: User, use: string, scope: string, requested: Requested | undefined): Record<string, unknown> {
  const released = new Set([
    ...Object.keys(requested ?? {}),
    ...(use === 'userinfo' ? claimsOfScopes(scope.split(' ')) : []),
  ]);
  const claims = standardClaims(user);
  for (const name of PREDEFINED_CLAIMS) if (!released.has(name)) delete claims[name];
  return claims;
}

/** When the user signed in: codes and refresh tokens carry it; an access token's session has it. */
async function authTimeOf(ctx: KoaContextWithOIDC, token: Token): Promise<number | undefined> {
  if (token && 'authTime' in token && token.authTime) return token.authTime;
  const sessionUid = token && 'sessionUid' in token ? token.sessionUid : undefined;
  return sessionUid ? (await ctx.oidc.provider.Session.findByUid(sessionUid))?.authTime() : undefined;
}

/**
 * findAccount. ctx.oidc.client is the client the claims are for (authorization, token,
 * refresh and userinfo endpoints), `token` the code, refresh or access token in use. Claims
 * are the standard ones, the client's predefined selection for the ID token or userinfo, and
 * the authorization's org_id.
 */
export function accountFinder(deps: AccountDeps): FindAccount {
  return async (ctx, sub, token): Promise<Account | undefined> => {
    const user = await deps.users.find(sub);
    if (!user) return undefined;
    const client = ctx.oidc.client as ClientExtras | undefined;
    const sources: ClaimSources = {
      user,
      tenantId: deps.tenantId,
      appId: client?.app_id,
      appName: async () => (client?.app_id ? (await deps.apps.find(client.app_id))?.name : undefined),
      authTime: () => authTimeOf(ctx, token),
    };
    return {
      accountId: user.user_id,
      claims: async (use: string, scope: string, requested?: Requested) => {
        const orgId = requestedOrgId(requested);
        return {
          ...releasedStandardClaims(user, use, scope, requested),
          ...await predefinedClaimValues(selectedClaims(client, use), sources),
          ...(orgId ? { [ORG_ID_CLAIM]: orgId } : {}),
          sub: user.user_id,
        };
      },
    };
  };
}
