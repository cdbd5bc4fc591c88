import * as yup from 'yup';
import { redirectUriProblem } from '../clients/redirect-uris.js';

const DAY = 86_400;
/** RFC 6749 section 3.3 scope-token: printable ASCII without space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * A resource (API) of an application: the `resource` indicator clients may request (RFC 8707),
 * its token lifetimes and its scopes. POST validates it whole, PUT validates the merged result.
 * The tenant's OpenID Connect scopes are not resource scopes: a value is one or the other.
 */
export function resourceSchema(oidcScopes: readonly string[]) {
  return yup.object({
    // redirect-URI rules of a web client: https (http on loopback), absolute, no fragment
    uri: yup.string().max(2048).required().test('resource-uri', function check(uri) {
      const problem = uri === undefined ? undefined : redirectUriProblem(uri, 'web');
      return problem ? this.createError({ message: `uri: ${problem}` }) : true;
    }),
    name: yup.string().trim().min(1).max(128),
    access_token_ttl: yup.number().integer().min(60).max(DAY).required(),
    refresh_token_ttl: yup.number().integer().min(60).max(365 * DAY).required(),
    scopes: yup.array(yup.string().max(128).required()
      .matches(SCOPE_TOKEN, '${path}: must be a scope token (no spaces, quotes or backslashes)')
      .notOneOf([...oidcScopes], '${path}: is an OpenID Connect scope of the tenant, not a resource scope'))
      .max(100).required(),
  }).noUnknown();
}

export type ResourceSettings = yup.InferType<ReturnType<typeof resourceSchema>>;
