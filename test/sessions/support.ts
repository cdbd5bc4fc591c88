import * as jose from 'jose';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { insecure } from '../support/consent.js';
import { api, clientCredentialsToken, type TestIdp } from '../support/idp.js';

export const REDIRECT_URI = 'http://localhost:8080/callback';

/** A first-party app client with its own client access token and an openid-client configuration. */
export interface AppClient {
  client_id: string;
  client_secret: string;
  token: string;
  rp: oidc.Configuration;
}

export async function createAppClient(t: TestIdp, appId: string, settings: Record<string, unknown> = {}): Promise<AppClient> {
  const created = await api(t, 'POST', `/v1/applications/${appId}/clients`, { name: 'App', redirect_uris: [REDIRECT_URI], ...settings });
  if (created.status !== 201) throw new Error(`client: ${JSON.stringify(created.body)}`);
  const { client_id, client_secret } = created.body as { client_id: string; client_secret: string };
  return {
    client_id,
    client_secret,
    token: await clientCredentialsToken(t.issuer, client_id, client_secret),
    rp: await oidc.discovery(new URL(t.issuer), client_id, client_secret, undefined, insecure),
  };
}

export async function createApplication(t: TestIdp, name: string): Promise<string> {
  return (await api(t, 'POST', '/v1/applications', { name })).body.app_id as string;
}

/** A call to the backend authentication API with an app's client access token. */
export const backend = (t: TestIdp, app: { token: string }, path: string, body: unknown) =>
  api(t, 'POST', `/v1/auth/${path}`, body, app.token);

/** The ID token's claims after checking its signature (the IdP's JWKS), issuer and audience. */
export async function idTokenClaims(t: TestIdp, idToken: string, audience: string): Promise<jose.JWTPayload> {
  const { payload } = await jose.jwtVerify(idToken, jose.createRemoteJWKSet(new URL(`${t.issuer}/jwks`)), { issuer: t.issuer, audience });
  return payload;
}

/** Where an authorization request by `app` lands at its redirect URI, signing in on the hosted login if asked to. */
export async function authorize(t: TestIdp, app: AppClient, browser: Browser, user: { email: string; password: string }, params: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(app.rp, {
    redirect_uri: REDIRECT_URI, scope: 'openid', state: 'st',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  const landed = await browser.login(url.href, t.url, user.email, user.password);
  return { landed, verifier };
}

/** A browser sign-in of `app` through the hosted login (or SSO), with its verified tokens. */
export async function browserSignIn(t: TestIdp, app: AppClient, browser: Browser, user: { email: string; password: string }, params: Record<string, string> = {}) {
  const { landed, verifier } = await authorize(t, app, browser, user, params);
  return oidc.authorizationCodeGrant(app.rp, landed, { pkceCodeVerifier: verifier, expectedState: 'st' });
}

export { startMailbox } from '../support/mailbox.js';

/** The passcode in a message the IdP sent. */
export const passcodeIn = (text: string) => /sign-in code is (\d{6})\./.exec(text)?.[1];
