import * as oidc from 'openid-client';
import { Browser } from './browserless.js';
import { api, type Fixture, type IdpEndpoint } from './idp.js';

export const insecure = { execute: [oidc.allowInsecureRequests] };

/** The bank's consent page and the budgeting app's redirect URI; no server behind either is needed. */
export const CONSENT_URI = 'https://bank.example/consent';
export const THIRD_PARTY_REDIRECT = 'https://budget.example/verify';

/** Tenant scopes of the bank example: the standard ones plus two API permissions. */
export const BANK_SCOPES = ['openid', 'profile', 'email', 'phone', 'address', 'offline_access', 'balance', 'transactions'];

export interface ThirdParty {
  client_id: string;
  client_secret: string;
  rp: oidc.Configuration;
}

export async function createThirdParty(t: IdpEndpoint, fx: Fixture, settings: Record<string, unknown> = {}): Promise<ThirdParty> {
  const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
    name: 'Budget app',
    third_party: true,
    consent_uris: [CONSENT_URI],
    redirect_uris: [THIRD_PARTY_REDIRECT],
    scopes: ['openid', 'balance', 'transactions', 'offline_access'],
    grant_types: ['authorization_code', 'refresh_token'],
    ...settings,
  });
  if (created.status !== 201) throw new Error(`third party: ${JSON.stringify(created.body)}`);
  const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
  return { client_id: created.body.client_id, client_secret: created.body.client_secret, rp };
}

export interface Started {
  /** where the browser left the IdP: the Consent URI, or the redirect URI (code or error) */
  url: URL;
  verifier: string;
  state: string;
}

/** The third party's authorization request, through the hosted login if there is no session yet. */
export async function authorize(t: IdpEndpoint, fx: Fixture, tp: ThirdParty, browser: Browser, params: Record<string, string>, par = false): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const request = {
    redirect_uri: THIRD_PARTY_REDIRECT, state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...params,
  };
  const authUrl = par ? await oidc.buildAuthorizationUrlWithPAR(tp.rp, request) : oidc.buildAuthorizationUrl(tp.rp, request);
  const url = await browser.login(authUrl.href, t.url, fx.user.email, fx.user.password);
  return { url, verifier, state };
}

export type AnswerMode = 'fetch' | 'navigate';

/**
 * The consent page's answer. `fetch`: called without the browser (as the seed's sample), then
 * the browser is sent to `redirect_to`. `navigate`: the browser itself opens the callback.
 */
export async function answer(t: IdpEndpoint, browser: Browser, consentUrl: URL, approved: boolean, mode: AnswerMode = 'fetch'): Promise<URL> {
  const query = new URLSearchParams({ src_interaction: consentUrl.searchParams.get('src_interaction')!, approved: String(approved) });
  const callback = `${t.url}/cis/auth/consent/callback?${query}`;
  if (mode === 'navigate') {
    const done = await browser.follow(callback, t.url, 'navigate');
    return new URL(done.url);
  }
  const response = await fetch(callback);
  const body = await response.json() as { redirect_to?: string };
  if (!body.redirect_to) throw new Error(`callback refused: ${response.status} ${JSON.stringify(body)}`);
  const done = await browser.follow(body.redirect_to, t.url);
  return new URL(done.url);
}

/** The authorization code at the third party's redirect URI, exchanged by openid-client. */
export async function redeem(tp: ThirdParty, started: Started, redirected: URL) {
  return oidc.authorizationCodeGrant(tp.rp, redirected, { pkceCodeVerifier: started.verifier, expectedState: started.state });
}

/** What a resource server (the bank's own confidential app) learns about a token. */
export async function introspect(t: IdpEndpoint, fx: Fixture, token: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${t.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
  });
  return response.json() as Promise<Record<string, unknown>>;
}
