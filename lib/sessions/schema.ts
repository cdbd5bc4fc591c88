import * as yup from 'yup';
import type { ClaimsParameter } from 'oidc-provider';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A session_id: one of the session's sids (lib/sessions/session-index.ts). */
export const sessionId = yup.string().matches(/^[A-Za-z0-9_-]{1,128}$/, '${path} is not a session id');

/** One target of the OIDC `claims` request (OIDC Core 5.5): claim name -> null or { essential, value, values }. */
const claimsOf = yup.mixed<NonNullable<ClaimsParameter['id_token']>>().optional()
  .test('claims', '${path} must map claim names to null or an object',
    (value) => value === undefined || (isPlainObject(value) && Object.values(value).every((m) => m === null || isPlainObject(m))));

/** What every method that issues tokens accepts besides its own fields: seed 004's `resource` and `claims`. */
export const tokenRequestFields = {
  resource: yup.string().max(2048),
  claims: yup.object({ id_token: claimsOf, userinfo: claimsOf }).noUnknown().default(undefined),
};

export const passwordAuthenticateSchema = yup.object({
  identifier: yup.string().required().max(254),
  password: yup.string().required().max(256),
  session_id: sessionId,
  ...tokenRequestFields,
}).noUnknown();

export const sessionAuthenticateSchema = yup.object({
  session_id: sessionId.required(),
  ...tokenRequestFields,
}).noUnknown();

export const sessionLogoutSchema = yup.object({ session_id: sessionId.required() }).noUnknown();
