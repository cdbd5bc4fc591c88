import { errors, type ClaimsParameterMember, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * The organization context of an authorization (seed 001: "When authentication runs in the
 * context of an organization, Mosaic adds org_id automatically to the ID token and UserInfo
 * response"). The `org_id` parameter of a pushed authorization request is carried to the token and userinfo
 * endpoints as a requested claim value: oidc-provider keeps the `claims` parameter with the
 * interaction, the code and the tokens, and hands it to Account.claims.
 */
export const ORG_ID_CLAIM = 'org_id';

const ORG_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MEMBERS = ['id_token', 'userinfo'] as const;

type ClaimsRequest = Partial<Record<(typeof MEMBERS)[number], Record<string, unknown>>>;

/**
 * extraParams validator of `org_id`. The parameter is the only source of the claim: an
 * `org_id` the client put in `claims` itself is replaced (or dropped). Runs again on the
 * authorization endpoint after PAR, with the same result.
 */
export function carryOrgId(ctx: KoaContextWithOIDC, value: string | undefined): void {
  if (value !== undefined && !ORG_ID.test(value)) {
    throw new errors.InvalidRequest('org_id must be 1 to 128 letters, digits or . _ : -');
  }
  // front-channel parameters are the user's to edit: org_id is taken only from a request the
  // client pushed itself, authenticated, to the PAR endpoint. A public client (PKCE only)
  // authenticates nothing: whoever holds the app pushes whatever org_id they like.
  const pushed = ctx.oidc.route === 'pushed_authorization_request' || Boolean(ctx.oidc.entities.PushedAuthorizationRequest);
  if (value !== undefined && !pushed) {
    throw new errors.InvalidRequest('org_id is only accepted in a pushed authorization request (PAR)');
  }
  if (value !== undefined && ctx.oidc.client?.clientAuthMethod === 'none') {
    throw new errors.InvalidRequest('org_id is only accepted from a client that authenticates (not from a public, PKCE-only client)');
  }
  const params = ctx.oidc.params!;
  if (value === undefined && typeof params.claims !== 'string') return;
  // checkClaims has already parsed and shape-checked a client's `claims`
  const claims = (typeof params.claims === 'string' ? JSON.parse(params.claims) : {}) as ClaimsRequest;
  for (const member of MEMBERS) {
    if (claims[member]) delete claims[member][ORG_ID_CLAIM];
    if (value !== undefined) claims[member] = { ...claims[member], [ORG_ID_CLAIM]: { value } };
  }
  params.claims = JSON.stringify(claims);
}

/** The org_id carried by carryOrgId, from the requested claims Account.claims receives. */
export function requestedOrgId(requested: Record<string, ClaimsParameterMember | null> | undefined): string | undefined {
  const value = requested?.[ORG_ID_CLAIM]?.value;
  return typeof value === 'string' ? value : undefined;
}
