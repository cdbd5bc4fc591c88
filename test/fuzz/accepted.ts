import { jsonOf, paramsOf, type AcceptedCheck, type Answer, type Sent } from './target.js';

/**
 * What accepted answers must look like, endpoint group by endpoint group: who may be accepted
 * at all (a refusal that turns into a success fails here) and the fields a success documents.
 */

/** The bearer token a request presents, if any. */
export const bearerOf = (sent: Sent): string | undefined => /^Bearer (\S+)$/.exec(sent.headers.authorization ?? '')?.[1];

/** The client a request authenticates as: Basic credentials, else client_id in the parameters. */
export function clientOf(sent: Sent): string | undefined {
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(sent.headers.authorization ?? '')?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    try { return decodeURIComponent(decoded.slice(0, decoded.indexOf(':'))); } catch { return undefined; }
  }
  return paramsOf(sent).get('client_id') ?? undefined;
}

/** A redirect anywhere the fuzzer named on purpose, never registered: an open redirect. */
function foreignRedirect(answer: Answer): string | undefined {
  const location = answer.headers.location;
  return typeof location === 'string' && /^https?:\/\/evil\.example/i.test(location) ? `it redirects to ${location}` : undefined;
}

/** A JSON answer (not HEAD, not 204) that is an object holding `fields` of the given types. */
function documented(sent: Sent, answer: Answer, fields: Record<string, 'string' | 'number' | 'boolean' | 'object'>): string | undefined {
  if (sent.method === 'HEAD' || answer.status === 204 || answer.status >= 300) return undefined;
  const body = jsonOf(answer);
  if (!body) return 'its body is no JSON object';
  const missing = Object.entries(fields).find(([name, type]) => typeof body[name] !== type);
  return missing ? `its body has no ${missing[1]} ${missing[0]}` : undefined;
}

/** The first problem of several checks. */
const first = (...problems: Array<string | undefined>) => problems.find((problem) => problem !== undefined);

/** Fields a 201 of the management API names its new record by. */
const CREATED_ID = /"(?:user_id|app_id|client_id|resource_id|secret_id)":"[^"]+"/;

/**
 * The management API: the admin's token may do anything, a viewer's may read; every other
 * token, a broken one or none is refused. A 2xx is a JSON object (204 empty); a 201 names the
 * record it created.
 */
export function managementAccepted(admin: string, viewer: string): AcceptedCheck {
  return (sent, answer) => {
    const token = bearerOf(sent);
    const reading = sent.method === 'GET' || sent.method === 'HEAD';
    if (token !== admin && !(token === viewer && reading)) return `the token may not ${sent.method} here`;
    if (answer.status === 201 && !CREATED_ID.test(answer.text)) return 'a 201 names no created record';
    return documented(sent, answer, {});
  };
}

/** Routes that accept exactly one token (self-service: the user's; CIBA completion: the user's). */
export function onlyWith(token: string): AcceptedCheck {
  return (sent, answer) => (bearerOf(sent) === token ? documented(sent, answer, {}) : 'another token was accepted');
}

/**
 * Backend authentication: only the first-party app's token; the password and passcode the
 * fuzzer sends are never right; a silent sign-in answers tokens and the session.
 */
export function backendAuthAccepted(appToken: string): AcceptedCheck {
  return (sent, answer) => {
    if (bearerOf(sent) !== appToken) return 'another token was accepted';
    if (/\/(?:password|otp)\/authenticate$/.test(sent.path)) return 'a wrong password or passcode signed the user in';
    if (/\/session\/authenticate$/.test(sent.path)) return documented(sent, answer, { access_token: 'string', id_token: 'string', session_id: 'string' });
    return documented(sent, answer, {});
  };
}

/** The consent callback: a decision taken is a redirect, or `redirect_to`, back to this IdP. */
export function consentCallbackAccepted(idpUrl: string): AcceptedCheck {
  return (sent, answer) => {
    const next = answer.status === 200 ? jsonOf(answer)?.redirect_to : answer.headers.location;
    return sent.method === 'HEAD' || answer.status === 204 || (typeof next === 'string' && next.startsWith(`${idpUrl}/`))
      ? undefined : `it sends the browser to ${String(next)}`;
  };
}

/** The hosted login: the fuzzer never knows the password, so a POST of the form is never accepted. */
export const hostedLoginAccepted: AcceptedCheck = (sent, answer) => first(
  foreignRedirect(answer),
  sent.method === 'POST' && /\/login$/.test(sent.path.split('?')[0]!) ? 'a sign-in without the password succeeded' : undefined,
);

/** The authorization endpoint, with no signed-in browser: a page or a redirect, never a code or token. */
export const authorizationAccepted: AcceptedCheck = (_sent, answer) => first(
  foreignRedirect(answer),
  /[?#&](?:code|access_token|id_token)=/.test(String(answer.headers.location ?? '')) ? 'it issued a code or token without a signed-in user' : undefined,
);

/** Per OAuth endpoint (path without prefix and query): what its success documents. */
export const oauthAccepted: AcceptedCheck = (sent, answer) => {
  const path = sent.path.split('?')[0]!.replace(/^(?:\/cis)?\/oidc/, '');
  switch (path) {
    // client_credentials is the only grant the fuzzer can hold: its codes, refresh tokens, device and CIBA requests are never good
    case '/token': return paramsOf(sent).get('grant_type') === 'client_credentials'
      ? documented(sent, answer, { access_token: 'string', token_type: 'string', expires_in: 'number' }) : `grant ${paramsOf(sent).get('grant_type')} was accepted`;
    case '/request': return first(documented(sent, answer, { request_uri: 'string', expires_in: 'number' }),
      answer.status === 201 ? undefined : `PAR answered ${answer.status}`);
    case '/token/introspection': return documented(sent, answer, { active: 'boolean' });
    case '/token/revocation': return answer.text === '' ? undefined : 'revocation answered a body';
    case '/me': return documented(sent, answer, { sub: 'string' });
    case '/backchannel': return documented(sent, answer, { auth_req_id: 'string', expires_in: 'number' });
    case '/device/auth': return documented(sent, answer, { device_code: 'string', user_code: 'string', verification_uri: 'string' });
    case '/.well-known/openid-configuration': case '/.well-known/oauth-authorization-server': case '/.well-known/oauth-authorization-server/oidc':
      return documented(sent, answer, { issuer: 'string' });
    case '/jwks': return documented(sent, answer, { keys: 'object' });
    default: return foreignRedirect(answer);
  }
};

/** CIBA: only the CIBA-enabled client starts a backchannel request. */
export function backchannelAccepted(cibaClientId: string): AcceptedCheck {
  return (sent, answer) => (clientOf(sent) === cibaClientId ? oauthAccepted(sent, answer) : `client ${clientOf(sent)} started a backchannel request`);
}

/** Userinfo: only the user's access token (a client_credentials token has no user). */
export function userinfoAccepted(userToken: string): AcceptedCheck {
  return (sent, answer) => {
    const token = bearerOf(sent) ?? paramsOf(sent).get('access_token');
    return token === userToken ? oauthAccepted(sent, answer) : 'userinfo answered for another token';
  };
}
