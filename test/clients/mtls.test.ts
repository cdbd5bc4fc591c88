import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { createCa, createIntermediate, issue, selfSignedClient, tlsFetch, writeServerFiles, type Issued } from '../support/tls.js';
import { refusalOf } from '../support/refusals.js';

const PROXY_HEADER = 'x-ssl-client-cert';

/**
 * mTLS client authentication and certificate-bound tokens (RFC 8705), against an IdP that
 * terminates TLS itself (a real TLS listener, certificates made by the test) and, on its
 * plain port, behind a TLS-terminating proxy that forwards the client certificate.
 */
describe('mTLS', () => {
  let t: TestIdp;
  let fx: Fixture;
  /** a second deployment: plain HTTP behind a TLS-terminating proxy that forwards the certificate */
  let proxied: TestIdp;
  let proxiedFx: Fixture;
  let serverCa: Issued;
  let clientCa: Issued;
  let budget: Issued;

  beforeAll(async () => {
    serverCa = await createCa('IdP server CA');
    clientCa = await createCa('Budget Ltd client CA');
    budget = await issue(clientCa, 'CN=budget-app, O=Budget Ltd', 'client');
    const server = await issue(serverCa, 'CN=127.0.0.1', 'server');
    t = await startIdp({ store: 'redis', tls: writeServerFiles(server) });
    fx = await createFixture(t);
    proxied = await startIdp({ store: 'redis', env: { MTLS_CERT_HEADER: PROXY_HEADER } });
    proxiedFx = await createFixture(proxied);
  });
  afterAll(async () => {
    await t.close();
    await proxied.close();
  });

  const createClient = (settings: Record<string, unknown>, on = t, app = fx.appId) => api(on, 'POST', `/v1/applications/${app}/clients`, {
    name: 'mTLS client', grant_types: ['client_credentials'], scopes: [], ...settings,
  });

  /** client_credentials over the IdP's own TLS listener, presenting `certificate`. */
  async function tokenOverTls(clientId: string, certificate?: Issued) {
    const rp = await oidc.discovery(new URL(t.issuer), clientId, undefined, oidc.TlsClientAuth(), {
      [oidc.customFetch]: tlsFetch(serverCa, certificate),
    });
    return oidc.clientCredentialsGrant(rp, {});
  }

  describe('tls_client_auth (CA-signed)', () => {
    it('authenticates a certificate from the registered CA whose subject matches', async () => {
      const created = await createClient({
        token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: clientCa.pem, tls_client_auth_subject_dn: 'CN=budget-app,O=Budget Ltd',
      });
      expect(created.status).toBe(201);
      const tokens = await tokenOverTls(created.body.client_id, budget);
      expect(tokens.token_type).toBe('bearer');
    });

    it('refuses a certificate from another CA, a subject that differs, or none at all', async () => {
      const created = await createClient({
        token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: clientCa.pem, tls_client_auth_subject_dn: 'CN=budget-app,O=Budget Ltd',
      });
      const otherCa = await createCa('Somebody else');
      const impostor = await issue(otherCa, 'CN=budget-app, O=Budget Ltd', 'client');
      const wrongName = await issue(clientCa, 'CN=other-app, O=Budget Ltd', 'client');
      for (const certificate of [impostor, wrongName, undefined]) {
        await expect(tokenOverTls(created.body.client_id, certificate)).rejects.toMatchObject({ error: 'invalid_client' });
      }
    });

    it('accepts the certificate forwarded by a TLS-terminating proxy in the configured header', async () => {
      const created = await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: clientCa.pem }, proxied, proxiedFx.appId);
      const request = (certificatePem?: string) => fetch(`${proxied.url}/oidc/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(certificatePem ? { [PROXY_HEADER]: encodeURIComponent(certificatePem) } : {}),
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.client_id }),
      });
      const accepted = await request(budget.pem);
      expect(accepted.status).toBe(200);
      expect(((await request()).status)).toBe(401);
      expect(((await request('not a certificate')).status)).toBe(401);
    });

    it('ignores the proxy header where the IdP terminates TLS itself: a certificate is public, its key is not', async () => {
      const created = await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: clientCa.pem, tls_client_auth_subject_dn: 'CN=budget-app' });
      const forged = await tlsFetch(serverCa)(`${t.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', [PROXY_HEADER]: encodeURIComponent(budget.pem) },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.client_id }).toString(),
      });
      expect(forged.status).toBe(401);
    });

    it('refuses expired certificates, CA certificates, server certificates, and accepts presented intermediates', async () => {
      const created = await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: clientCa.pem, tls_client_auth_subject_dn: 'O=Budget Ltd' });
      const expired = await issue(clientCa, 'CN=old, O=Budget Ltd', 'client', { expired: true });
      const server = await issue(clientCa, 'CN=web, O=Budget Ltd', 'server');
      for (const certificate of [expired, server, clientCa]) {
        await expect(tokenOverTls(created.body.client_id, certificate)).rejects.toMatchObject({ error: 'invalid_client' });
      }
      const intermediate = await createIntermediate(clientCa, 'Budget Ltd issuing CA');
      const leaf = await issue(intermediate, 'CN=budget-batch, O=Budget Ltd', 'client');
      await expect(tokenOverTls(created.body.client_id, leaf)).rejects.toMatchObject({ error: 'invalid_client' });
      const withChain = { ...leaf, pem: `${leaf.pem}\n${intermediate.pem}` };
      expect((await tokenOverTls(created.body.client_id, withChain)).access_token).toBeTruthy();
    });

    it('makes a CA registered without subject attributes the identity of one client only', async () => {
      const ownCa = await createCa('Dedicated CA');
      const first = await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: ownCa.pem });
      expect(first.status).toBe(201);
      const second = await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: ownCa.pem, tls_client_auth_subject_dn: 'CN=x' });
      expect(second).toMatchObject({ status: 409, body: { message: expect.stringMatching(/^tls_client_auth_ca: this CA identifies another client/) } });
      const sharedCa = await createCa('Shared CA');
      expect((await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: sharedCa.pem, tls_client_auth_subject_dn: 'CN=a' })).status).toBe(201);
      const vague = await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: sharedCa.pem });
      expect(vague).toMatchObject({ status: 409, body: { message: expect.stringMatching(/^tls_client_auth_subject_dn: another client uses this CA/) } });
      // once the first client is gone, its CA is free again
      expect((await api(t, 'DELETE', `/v1/applications/${fx.appId}/clients/${first.body.client_id}`)).status).toBe(204);
      expect((await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: ownCa.pem, tls_client_auth_subject_dn: 'CN=x' })).status).toBe(201);
    });

    it('validates the settings', async () => {
      expect((await createClient({ token_endpoint_auth_method: 'tls_client_auth' })).body.message)
        .toBe('tls_client_auth_ca: tls_client_auth needs the PEM chain of the CA that issues the client certificate');
      expect((await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: 'garbage' })).body.message)
        .toBe('tls_client_auth_ca: must hold at least one PEM certificate (-----BEGIN CERTIFICATE-----)');
      expect((await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: budget.pem })).body.message)
        .toBe('tls_client_auth_ca: must hold CA certificates (basicConstraints CA:TRUE)');
      expect((await createClient({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: clientCa.pem, tls_client_auth_subject_dn: 'XX=1' })).body.message)
        .toMatch(/^tls_client_auth_subject_dn: unsupported attribute XX/);
      expect((await createClient({ tls_client_auth_subject_dn: 'CN=a' })).body.message)
        .toBe('tls_client_auth_subject_dn: only applies to tls_client_auth');
    });
  });

  describe('self_signed_tls_client_auth', () => {
    it('authenticates the registered self-signed certificate and nothing else', async () => {
      const own = await selfSignedClient('CN=budget-self');
      const created = await createClient({ token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [own.jwk] } });
      expect(created.status).toBe(201);
      expect((await tokenOverTls(created.body.client_id, own)).access_token).toBeTruthy();
      const stranger = await selfSignedClient('CN=budget-self');
      await expect(tokenOverTls(created.body.client_id, stranger)).rejects.toMatchObject({ error: 'invalid_client' });
    });

    it('needs the certificate in the JWKS', async () => {
      const own = await selfSignedClient('CN=x');
      const { x5c: _certificate, ...bare } = own.jwk;
      expect((await createClient({ token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [bare] } })).body.message)
        .toBe('jwks: self_signed_tls_client_auth needs the certificate as x5c of a key');
    });
  });

  describe('certificate-bound access tokens (token_binding: mtls)', () => {
    it('binds user tokens to the certificate: userinfo refuses them without it', async () => {
      const created = await createClient({
        token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_ca: clientCa.pem, tls_client_auth_subject_dn: 'CN=budget-app', token_binding: 'mtls',
        grant_types: ['authorization_code'], scopes: ['openid', 'email'], redirect_uris: [fx.redirectUri],
      });
      const withCert = await oidc.discovery(new URL(t.issuer), created.body.client_id, undefined, oidc.TlsClientAuth(), {
        [oidc.customFetch]: tlsFetch(serverCa, budget),
      });
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const authUrl = oidc.buildAuthorizationUrl(withCert, {
        redirect_uri: fx.redirectUri, scope: 'openid email', state,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      // the user's browser needs no certificate; the IdP asks but does not require one
      const callback = await new Browser(tlsFetch(serverCa)).login(authUrl.href, t.issuer.replace(/\/oidc$/, ''), fx.user.email, fx.user.password);
      const tokens = await oidc.authorizationCodeGrant(withCert, callback, { pkceCodeVerifier: verifier, expectedState: state });

      expect(await oidc.fetchUserInfo(withCert, tokens.access_token, fx.user.user_id)).toMatchObject({ email: fx.user.email });
      const withoutCert = await oidc.discovery(new URL(t.issuer), created.body.client_id, undefined, oidc.TlsClientAuth(), {
        [oidc.customFetch]: tlsFetch(serverCa),
      });
      expect(await refusalOf(oidc.fetchUserInfo(withoutCert, tokens.access_token, fx.user.user_id))).toEqual({ status: 401, error: 'invalid_token', error_description: 'invalid token provided', code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE', message: 'server responded with a challenge in the WWW-Authenticate HTTP Header' });
      const introspected = await fetch(`${t.url}/oidc/token/introspection`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.access_token, client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
      });
      expect(await introspected.json()).toMatchObject({ active: true, cnf: { 'x5t#S256': expect.any(String) } });
    });

    it('refuses to issue a bound token when no certificate is presented', async () => {
      const created = await createClient({ token_binding: 'mtls' });
      const response = await fetch(`${t.url}/oidc/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.client_id, client_secret: created.body.client_secret }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
    });
  });

  describe('SameSite per client', () => {
    it('sets SameSite=None on the IdP cookies of a client that asks for it, Lax otherwise', async () => {
      const none = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
        name: 'iframe app', redirect_uris: ['https://app.example/cb'], same_site: 'none',
      });
      expect(none.status).toBe(201);
      const cookiesOf = async (clientId: string) => {
        const url = new URL(`${t.issuer}/auth`);
        url.search = new URLSearchParams({
          client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: clientId === fx.client.client_id ? fx.redirectUri : 'https://app.example/cb',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
        }).toString();
        const response = await tlsFetch(serverCa)(url);
        return response.headers.getSetCookie();
      };
      const relaxed = await cookiesOf(fx.client.client_id);
      expect(relaxed.length).toBeGreaterThan(0);
      expect(relaxed.every((c) => /samesite=lax/i.test(c))).toBe(true);
      const crossSite = await cookiesOf(none.body.client_id);
      expect(crossSite.length).toBeGreaterThan(0);
      expect(crossSite.every((c) => /samesite=none/i.test(c) && /secure/i.test(c))).toBe(true);
    });

    it('allows None only with https redirect URIs', async () => {
      const refused = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
        name: 'bad', redirect_uris: ['http://localhost:8080/cb'], same_site: 'none',
      });
      expect(refused.body.message).toBe('same_site: none is only allowed when every redirect URI uses https');
    });
  });
});
