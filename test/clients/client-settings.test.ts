import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';
import { refusalOf } from '../support/refusals.js';

const insecure = { execute: [oidc.allowInsecureRequests] };

/** Seed 001 client settings, each proven with openid-client: the flow it allows and what it refuses. */
describe('client settings', () => {
  let t: TestIdp;
  let fx: Fixture;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  const createClient = (settings: Record<string, unknown>) => api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
    name: 'settings client', redirect_uris: [fx.redirectUri], ...settings,
  });

  async function signingKeys(alg = 'ES256') {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    return { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), alg, use: 'sig' } };
  }

  /** Authorization request (PAR when `par`) → hosted login → code at the redirect URI. */
  async function authorize(rp: oidc.Configuration, params: Record<string, string> = {}, options: { par?: boolean; dpop?: oidc.DPoPHandle } = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const request = {
      redirect_uri: fx.redirectUri, scope: 'openid email', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    };
    const url = options.par
      ? await oidc.buildAuthorizationUrlWithPAR(rp, request, { DPoP: options.dpop })
      : oidc.buildAuthorizationUrl(rp, request);
    const callback = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
    return { callback, verifier, state };
  }

  describe('private_key_jwt', () => {
    it('authenticates with a JWT assertion signed by the registered key, and refuses another key', async () => {
      const own = await signingKeys();
      const created = await createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [own.jwk] }, grant_types: ['client_credentials'], scopes: [] });
      expect(created.status).toBe(201);
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, undefined, oidc.PrivateKeyJwt(own.privateKey), insecure);
      expect((await oidc.clientCredentialsGrant(rp, {})).access_token).toBeTruthy();

      const other = await signingKeys();
      const impostor = await oidc.discovery(new URL(t.issuer), created.body.client_id, undefined, oidc.PrivateKeyJwt(other.privateKey), insecure);
      await expect(oidc.clientCredentialsGrant(impostor, {})).rejects.toMatchObject({ error: 'invalid_client' });
      // the secret it was created with is no way in for a private_key_jwt client
      const bySecret = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      await expect(oidc.clientCredentialsGrant(bySecret, {})).rejects.toMatchObject({ error: 'invalid_client' });
    });

    it('needs public keys', async () => {
      const own = await signingKeys();
      expect((await createClient({ token_endpoint_auth_method: 'private_key_jwt' })).body.message).toBe('jwks: private_key_jwt needs the client\'s public signing keys');
      const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
      expect((await createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [await jose.exportJWK(privateKey)] } })).body.message)
        .toBe('jwks: keys[0]: must be a public key (no private or symmetric members)');
      expect((await createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } })).body.message)
        .toBe('jwks: keys[0]: kty must be RSA, EC or OKP');
      expect((await createClient({ jwks: [own.jwk] })).body.message).toBe('jwks: must be a JWKS: { "keys": [ ... ] } with at least one key');
      expect(await createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: [own.jwk] })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^jwks: /) } });
      // shape checks pass, oidc-provider's own metadata rules do not: still a 400, nothing saved
      const broken = await createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AA' }] } });
      expect(broken).toMatchObject({ status: 400, body: { error_code: 400, message: 'client JSON Web Key Set is invalid' } });
    });
  });

  describe('DPoP-bound tokens (token_binding: dpop)', () => {
    it('requires a DPoP proof at the token endpoint and the same key at userinfo', async () => {
      const created = await createClient({ token_binding: 'dpop' });
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      const first = await authorize(rp);
      await expect(oidc.authorizationCodeGrant(rp, first.callback, { pkceCodeVerifier: first.verifier, expectedState: first.state }))
        .rejects.toMatchObject({ error: 'invalid_grant' });

      const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
      const second = await authorize(rp);
      const tokens = await oidc.authorizationCodeGrant(rp, second.callback, { pkceCodeVerifier: second.verifier, expectedState: second.state }, undefined, { DPoP: dpop });
      expect(tokens.token_type.toLowerCase()).toBe('dpop');
      expect(await oidc.fetchUserInfo(rp, tokens.access_token, fx.user.user_id, { DPoP: dpop })).toMatchObject({ email: fx.user.email });
      // presented as a plain bearer token, or with another key: refused
      expect(await refusalOf(oidc.fetchUserInfo(rp, tokens.access_token, fx.user.user_id))).toEqual({ status: 401, error: 'invalid_token', error_description: 'invalid token provided', code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE', message: 'server responded with a challenge in the WWW-Authenticate HTTP Header' });
      const otherKey = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
      expect(await refusalOf(oidc.fetchUserInfo(rp, tokens.access_token, fx.user.user_id, { DPoP: otherKey }))).toEqual({ status: 401, error: 'invalid_token', error_description: 'invalid token provided', code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE', message: 'server responded with a challenge in the WWW-Authenticate HTTP Header' });
      // and our management API, which checks no proof, does not take bound tokens
      expect((await api(t, 'GET', '/v1/me/consents', undefined, tokens.access_token)).status).toBe(401);
    });
  });

  describe('require_par', () => {
    it('refuses a front-channel request without request_uri, and accepts a pushed one', async () => {
      const created = await createClient({ require_par: true });
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      const direct = await authorize(rp);
      expect(Object.fromEntries(direct.callback.searchParams)).toMatchObject({ error: 'invalid_request' });
      const pushed = await authorize(rp, {}, { par: true });
      const tokens = await oidc.authorizationCodeGrant(rp, pushed.callback, { pkceCodeVerifier: pushed.verifier, expectedState: pushed.state });
      expect(tokens.access_token).toBeTruthy();
    });
  });

  describe('PKCE modes', () => {
    it('allow: PKCE is optional alongside the secret', async () => {
      const created = await createClient({ pkce: 'allow' });
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: fx.redirectUri, scope: 'openid', state });
      const callback = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
      expect((await oidc.authorizationCodeGrant(rp, callback, { expectedState: state })).access_token).toBeTruthy();
    });

    it('enforce_with_secret: a request without code_challenge is refused', async () => {
      const created = await createClient({ pkce: 'enforce_with_secret' });
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: fx.redirectUri, scope: 'openid', state: 's' });
      const callback = await new Browser().login(url.href, t.url, fx.user.email, fx.user.password);
      expect(callback.searchParams.get('error')).toBe('invalid_request');
      expect(callback.searchParams.get('error_description')).toMatch(/requires PKCE/);
    });

    it('enforce_instead_of_secret: a public client gets user tokens with PKCE alone', async () => {
      const created = await createClient({ pkce: 'enforce_instead_of_secret', grant_types: ['authorization_code', 'refresh_token'] });
      expect(created.body.client_secret).toBeUndefined();
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, undefined, oidc.None(), insecure);
      const flow = await authorize(rp);
      const tokens = await oidc.authorizationCodeGrant(rp, flow.callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
      expect(tokens.claims()?.sub).toBe(fx.user.user_id);
      expect((await createClient({ pkce: 'enforce_instead_of_secret', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [(await signingKeys()).jwk] } })).body.message)
        .toBe('token_endpoint_auth_method: a public client (pkce enforce_instead_of_secret) authenticates with PKCE only');
    });
  });

  describe('ID token encryption', () => {
    async function encryptionKeys() {
      const { publicKey, privateKey } = await jose.generateKeyPair('RSA-OAEP-256', { extractable: true });
      return { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), use: 'enc', alg: 'RSA-OAEP-256' } };
    }

    it('returns the ID token as a JWE to the uploaded key, and follows a re-uploaded key', async () => {
      const first = await encryptionKeys();
      const created = await createClient({ jwks: { keys: [first.jwk] }, id_token_encryption_alg: 'RSA-OAEP-256' });
      expect(created.status).toBe(201);
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      oidc.enableDecryptingResponses(rp, ['A256GCM'], first.privateKey);
      const flow = await authorize(rp);
      const tokens = await oidc.authorizationCodeGrant(rp, flow.callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
      expect(tokens.id_token!.split('.')).toHaveLength(5);
      expect(jose.decodeProtectedHeader(tokens.id_token!)).toMatchObject({ alg: 'RSA-OAEP-256', enc: 'A256GCM' });
      expect(tokens.claims()).toMatchObject({ sub: fx.user.user_id, aud: created.body.client_id });

      // key rotation: upload the new key; new ID tokens are for it, and the old key cannot read them
      const second = await encryptionKeys();
      expect((await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${created.body.client_id}`, { jwks: { keys: [second.jwk] } })).status).toBe(200);
      const later = await authorize(rp);
      const rotated = oidc.authorizationCodeGrant(rp, later.callback, { pkceCodeVerifier: later.verifier, expectedState: later.state });
      expect(await refusalOf(rotated)).toEqual({ code: 'OAUTH_DECRYPTION_FAILED', message: 'decryption failed' });
      const rpWithNewKey = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
      oidc.enableDecryptingResponses(rpWithNewKey, ['A256GCM'], second.privateKey);
      const again = await authorize(rpWithNewKey);
      const fresh = await oidc.authorizationCodeGrant(rpWithNewKey, again.callback, { pkceCodeVerifier: again.verifier, expectedState: again.state });
      expect(fresh.claims()?.sub).toBe(fx.user.user_id);
    });

    it('needs an RSA key that may encrypt', async () => {
      const sig = await signingKeys('RS256');
      expect((await createClient({ id_token_encryption_alg: 'RSA-OAEP' })).body.message)
        .toBe('jwks: ID token encryption needs an RSA public key for id_token_encryption_alg, not restricted to signatures');
      expect((await createClient({ jwks: { keys: [sig.jwk] }, id_token_encryption_alg: 'RSA-OAEP' })).body.message)
        .toBe('jwks: ID token encryption needs an RSA public key for id_token_encryption_alg, not restricted to signatures');
      expect((await createClient({ id_token_encryption_alg: 'dir' })).status).toBe(400);
      // a key bound to another algorithm could never be selected, nor a toy-sized one
      const oaep256 = (await encryptionKeys()).jwk;
      expect((await createClient({ jwks: { keys: [oaep256] }, id_token_encryption_alg: 'RSA-OAEP' })).status).toBe(400);
      expect((await createClient({ jwks: { keys: [{ ...oaep256, n: 'AQAB' }] }, id_token_encryption_alg: 'RSA-OAEP-256' })).body.message)
        .toBe('jwks: keys[0]: RSA keys must be at least 2048 bits');
      // and private_key_jwt needs a key that may sign
      expect((await createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [oaep256] } })).body.message)
        .toBe('jwks: private_key_jwt needs the client\'s public signing keys');
    });
  });

  describe('enforce_fapi2', () => {
    it('refuses a non-compliant combination with the reason', async () => {
      const own = await signingKeys();
      const base = { enforce_fapi2: true, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [own.jwk] }, require_par: true, token_binding: 'dpop', pkce: 'enforce_with_secret' };
      expect((await createClient({ ...base, require_par: false })).body.message).toBe('enforce_fapi2: FAPI 2.0 requires pushed authorization requests (require_par: true)');
      expect((await createClient({ ...base, token_binding: 'none' })).body.message).toBe('enforce_fapi2: FAPI 2.0 requires sender-constrained tokens (token_binding: dpop or mtls)');
      expect((await createClient({ ...base, token_endpoint_auth_method: 'client_secret_post' })).body.message)
        .toBe('enforce_fapi2: FAPI 2.0 requires private_key_jwt, tls_client_auth or self_signed_tls_client_auth');
      expect((await createClient({ ...base, pkce: 'allow' })).body.message).toBe('enforce_fapi2: FAPI 2.0 requires PKCE on every authorization request (pkce: enforce_with_secret)');
      expect((await createClient(base)).status).toBe(201);
    });

    it('runs a FAPI 2.0 flow: PAR, PKCE, private_key_jwt, DPoP, ES256 ID token; a plain request is refused', async () => {
      const own = await signingKeys();
      const created = await createClient({
        enforce_fapi2: true, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [own.jwk] }, require_par: true, token_binding: 'dpop', pkce: 'enforce_with_secret',
      });
      const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, undefined, oidc.PrivateKeyJwt(own.privateKey), insecure);
      const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
      const flow = await authorize(rp, {}, { par: true, dpop });
      const tokens = await oidc.authorizationCodeGrant(rp, flow.callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state }, undefined, { DPoP: dpop });
      expect(tokens.token_type.toLowerCase()).toBe('dpop');
      expect(jose.decodeProtectedHeader(tokens.id_token!).alg).toBe('ES256');
      expect(tokens.claims()?.sub).toBe(fx.user.user_id);

      const plain = await authorize(rp);
      expect(plain.callback.searchParams.get('error')).toBe('invalid_request');
    });
  });

  describe('loopback redirect hosts', () => {
    it('are matched whole: a host that only starts with localhost is refused, and authorize shows the error page', async () => {
      for (const [clientType, uri, message] of [
        ['web', 'http://localhost.evil.example/callback', 'redirect_uris[0]: must use https unless the host is localhost'],
        ['web', 'http://127.0.0.1.evil.example/callback', 'redirect_uris[0]: must use https unless the host is localhost'],
        ['native', 'http://localhost.evil.example/callback', 'redirect_uris[0]: must use https unless the host is localhost'],
      ] as const) {
        expect({ uri, ...await createClient({ client_type: clientType, redirect_uris: [uri] }) })
          .toMatchObject({ uri, status: 400, body: { message, error_code: 400 } });
      }
      // the registered http://localhost:8080/callback does not cover a longer host either
      const auth = new URL(`${t.issuer}/auth`);
      auth.search = new URLSearchParams({
        client_id: fx.client.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'http://localhost.evil.example:8080/callback',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      }).toString();
      const answer = await fetch(auth, { redirect: 'manual' });
      expect(answer.status).toBe(400);
      expect(answer.headers.get('location')).toBeNull();
      expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await answer.text()).toContain('redirect_uri did not match any of the client&#39;s registered redirect_uris');
    });
  });
});
