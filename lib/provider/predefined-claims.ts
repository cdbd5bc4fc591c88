import type { User } from '../users/service.js';

/** What a predefined claim's value may be drawn from, besides the user record. */
export interface ClaimSources {
  user: User;
  tenantId: string;
  /** the application of the client the claims are released to */
  appId?: string;
  appName(): Promise<string | undefined>;
  /** when the user signed in to the session the token belongs to */
  authTime(): Promise<number | undefined>;
}

type Resolver = (sources: ClaimSources) => unknown;

/**
 * Seed 001 "Pre-defined Custom Claims": the claims an operator can have a client receive
 * without requesting them, and where each value comes from. Claims of the seed's list that
 * the IdP holds no data for (new_user, webauthn, ts_roles, ...) are not offered.
 */
const RESOLVERS = {
  tid: ({ tenantId }) => tenantId,
  fname: ({ user }) => user.given_name,
  lname: ({ user }) => user.family_name,
  mname: ({ user }) => user.middle_name,
  email: ({ user }) => user.email,
  email_verified: ({ user }) => (user.email ? user.email_verified : undefined),
  phone_number: ({ user }) => user.phone_number,
  phone_number_verified: ({ user }) => (user.phone_number ? user.phone_number_verified : undefined),
  groups: ({ user }) => user.groups,
  roles: ({ user }) => user.roles,
  permissions: ({ user }) => user.permissions,
  birthday: ({ user }) => user.birthday,
  language: ({ user }) => user.language,
  address: ({ user }) => user.address && { ...user.address },
  city: ({ user }) => user.address?.locality,
  country: ({ user }) => user.address?.country,
  street_address: ({ user }) => user.address?.street_address,
  username: ({ user }) => user.username,
  picture: ({ user }) => user.picture,
  created_at: ({ user }) => user.created_at,
  auth_time: ({ authTime }) => authTime(),
  external_user_id: ({ user }) => user.external_user_id,
  external_account_id: ({ user, appId }) => (appId ? user.app_data?.[appId]?.external_account_id : undefined),
  app_name: ({ appName }) => appName(),
  custom_data: ({ user }) => user.custom_data,
  custom_app_data: ({ user, appId }) => (appId ? user.app_data?.[appId]?.custom_app_data : undefined),
} satisfies Record<string, Resolver>;

export type PredefinedClaim = keyof typeof RESOLVERS;
export const PREDEFINED_CLAIMS = Object.keys(RESOLVERS) as PredefinedClaim[];

/** A client's selection (the settings of seed 001), as carried on oidc-provider's Client. */
export interface ClaimSelection {
  id_token_claims?: string[];
  userinfo_claims?: string[];
  userinfo_includes_id_token_claims?: boolean;
}

/** The predefined claims a client receives in the ID token or from userinfo. */
export function selectedClaims(client: ClaimSelection | undefined, use: string): PredefinedClaim[] {
  if (!client) return [];
  const idToken = client.id_token_claims ?? [];
  const selection = use === 'id_token' ? idToken
    : use === 'userinfo' ? (client.userinfo_includes_id_token_claims ? idToken : client.userinfo_claims ?? [])
      : [];
  return selection.filter((name): name is PredefinedClaim => name in RESOLVERS);
}

/** The values of the selected claims; absent data leaves a claim out. */
export async function predefinedClaimValues(names: PredefinedClaim[], sources: ClaimSources): Promise<Record<string, unknown>> {
  const values = await Promise.all(names.map(async (name) => [name, await RESOLVERS[name](sources)] as const));
  return Object.fromEntries(values.filter(([, value]) => value !== undefined));
}
