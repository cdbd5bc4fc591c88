import * as oidc from 'openid-client';
import { Browser } from './browserless.js';
import type { Fixture, IdpEndpoint } from './idp.js';

/**
 * Tokens of the fixture's first-party app for a user, after a hosted password login in a new
 * browser (authorization code + PKCE, driven by openid-client).
 */
export async function signInTokens(
  t: IdpEndpoint, fx: Fixture, user: { email: string; password: string }, scope = 'openid',
): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const app = await oidc.discovery(new URL(t.issuer), fx.client.client_id, fx.client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(app, {
    redirect_uri: fx.redirectUri, scope, state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const callback = await new Browser().login(url.href, t.url, user.email, user.password);
  return oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier, expectedState: state });
}

/** The user's own access token from the fixture's first-party app. */
export async function userToken(t: IdpEndpoint, fx: Fixture, user: { email: string; password: string }): Promise<string> {
  return (await signInTokens(t, fx, user)).access_token;
}
