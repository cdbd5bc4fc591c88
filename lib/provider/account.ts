import type { Account, ClaimsParameterMember, FindAccount } from 'oidc-provider';
import type { User, UserService } from '../users/service.js';

/** Standard claims per scope (OIDC Core 5.4); `sub` always. */
export const SCOPE_CLAIMS: Record<string, string[]> = {
  // auth_time, acr and amr say when and how the user authenticated (seeds 001, 004)
  openid: ['sub', 'auth_time', 'acr', 'amr'],
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'preferred_username', 'picture', 'birthdate', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
};

/** The claims a set of scopes releases. */
export function claimsOfScopes(scopes: Iterable<string>): Set<string> {
  return new Set([...scopes].flatMap((scope) => SCOPE_CLAIMS[scope] ?? []));
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

export function accountFinder(users: UserService): FindAccount {
  return async (_ctx, sub): Promise<Account | undefined> => {
    const user = await users.find(sub);
    if (!user) return undefined;
    const claims = standardClaims(user);
    return {
      accountId: user.user_id,
      // oidc-provider filters these by the granted scopes and the `claims` parameter
      claims: (_use: string, _scope: string, _requested?: Record<string, ClaimsParameterMember | null>) => claims as { sub: string },
    };
  };
}
