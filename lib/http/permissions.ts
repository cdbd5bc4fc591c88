import type { ROLES } from '../clients/schema.js';

export type Role = (typeof ROLES)[number];
export type Access = 'read' | 'write';

/**
 * What a management route needs: an area (the first path segment under /v1) and an access (GET
 * reads, every other method writes). Each route declares it (lib/http/route-access.ts).
 */
export interface Permission {
  area: string;
  access: Access;
}

/** `[area, access]`, where `*` matches any area or any access. */
type Grant = readonly [area: string, access: Access | '*'];

/**
 * What each client role may do on the management API. Clients and their secrets live under
 * /v1/applications, so they belong to the `applications` area. A client with no roles has no
 * management access (least privilege; the bootstrap and demo management clients hold `admin`).
 */
const ROLE_GRANTS: Record<Role, readonly Grant[]> = {
  admin: [['*', '*']],
  viewer: [['*', 'read']],
  user_manager: [['users', '*']],
  app_manager: [['applications', '*'], ['resources', '*']],
  consent_manager: [['consents', '*'], ['consent-receipts', '*'], ['consent-requests', '*']],
};

/**
 * `/v1/auth` (backend authentication and sessions, seed 004) is not a management area and no
 * role governs it: each app calls it with its own client access token, gets user tokens for
 * itself only, and acts only on sessions whose session_id it holds. Any first-party client
 * allowed the `openid` scope may call it, with or without roles; third-party and machine
 * clients may not (lib/sessions/app-client.ts).
 */
export const BACKEND_AUTH_AREA = 'auth';

/** The area a /v1 path belongs to: its first segment, in lower case as the routers match paths. */
export const areaOf = (path: string) => (path.split('/')[2] ?? '').toLowerCase();

export const describePermission = ({ area, access }: Permission) => `${area}:${access}`;

/** True when one of the roles grants the permission; role names we do not know grant nothing. */
export function rolesGrant(roles: readonly string[], { area, access }: Permission): boolean {
  return roles.some((role) => Object.hasOwn(ROLE_GRANTS, role)
    && ROLE_GRANTS[role as Role].some(([a, x]) => (a === '*' || a === area) && (x === '*' || x === access)));
}

/**
 * Roles guard themselves: a caller may only assign, or manage a client holding, roles it holds
 * itself (admin holds them all), so an app_manager can neither mint an admin client nor take
 * over one by rotating its secret. Returns the roles the caller lacks.
 */
export function rolesNotHeld(holder: readonly string[], roles: readonly string[]): string[] {
  return holder.includes('admin') ? [] : [...new Set(roles.filter((role) => !holder.includes(role)))];
}
