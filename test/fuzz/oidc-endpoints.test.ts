import { afterAll, beforeAll, describe, it } from '@jest/globals';
import fc from 'fast-check';
import { COUNTED_ATTEMPTS, startFuzzTarget, type FuzzTarget } from './target.js';
import { basic, basicAuth, bearerAuth, hostileText, paramRequest, segment, valueFrom, type Template } from './hostile.js';
import { buildWorld, CIBA_GRANT_TYPE, DEVICE_CODE_GRANT, FUZZ_CONFIG, THIRD_PARTY_REDIRECT, type World } from './fixtures.js';
import { timeoutOf } from './groups.js';
import { authorizationAccepted, backchannelAccepted, oauthAccepted, userinfoAccepted } from './accepted.js';

/** The issuer's routes answer under /oidc and under the seed's /cis prefix. */
const under = (...paths: string[]) => fc.constantFrom(...paths.flatMap((path) => [`/oidc${path}`, `/cis/oidc${path}`]));
const RANDOM_TOKEN = 'Xq3vJz1lK8mN0pR7sT2uW5yA4bC6dE9fG1hI3jK5lM7';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/**
 * oidc-provider's endpoints as we mount and configure them: authorization, token (every grant),
 * PAR, revocation, introspection, userinfo, logout, CIBA, device flow, discovery.
 */
describe('fuzzing the OAuth and OpenID Connect endpoints', () => {
  let target: FuzzTarget;
  let w: World;
  let clientAuth: fc.Arbitrary<string>;
  let clientIds: string[];
  /** what an authorization request (front channel or PAR) may carry */
  let authorizationParams: Record<string, fc.Arbitrary<string>>;
  /** client credentials in the body, the other way clients authenticate */
  let bodyCredentials: Record<string, fc.Arbitrary<string>>;
  /** authorization requests that reach the login page (first party, third party, public client) */
  let authorizations: Array<Record<string, string>>;

  beforeAll(async () => {
    target = await startFuzzTarget(FUZZ_CONFIG);
    w = await buildWorld(target.idp);
    const { app, thirdParty, device, ciba } = w.clients;
    clientAuth = basicAuth([app, thirdParty, device, ciba]);
    clientIds = [app.id, thirdParty.id, device.id, ciba.id, w.clients.publicId];
    bodyCredentials = {
      client_id: valueFrom(clientIds),
      client_secret: valueFrom([app.secret, ciba.secret, device.secret]),
      client_assertion_type: valueFrom(['urn:ietf:params:oauth:client-assertion-type:jwt-bearer']),
      client_assertion: valueFrom(['eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln', w.tokens.idToken]),
    };
    authorizationParams = {
      client_id: valueFrom(clientIds),
      response_type: valueFrom(['code', 'code id_token', 'token', 'id_token', 'none']),
      redirect_uri: valueFrom([w.fx.redirectUri, THIRD_PARTY_REDIRECT, 'com.example.app:/cb', 'https://evil.example/cb']),
      scope: valueFrom(['openid', 'openid email profile', 'openid offline_access', 'openid balance', 'balance transactions']),
      state: hostileText,
      nonce: hostileText,
      code_challenge: valueFrom(['E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'short']),
      code_challenge_method: valueFrom(['S256', 'plain', 's256']),
      prompt: valueFrom(['none', 'login', 'consent', 'select_account', 'none login', 'create']),
      max_age: valueFrom(['0', '60', '-1', '1.5', '99999999999999999999']),
      claims: valueFrom(['{"id_token":{"email":null}}', '{"userinfo":{"email":{"essential":true}}}', '{"id_token":{"__proto__":{"x":1}}}', '{"id_token":[]}', '{"userinfo":{"sub":{"value":1}}}']),
      acr_values: valueFrom(['sfa', 'mfa', 'sfa mfa', 'urn:x']),
      ui_locales: valueFrom(['en', 'de en', 'xx-YY']),
      login_hint: valueFrom([w.fx.user.email]),
      id_token_hint: valueFrom([w.tokens.idToken]),
      request: valueFrom(['eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJ4In0.', 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln']),
      request_uri: valueFrom([`urn:ietf:params:oauth:request_uri:${RANDOM_TOKEN}`, 'https://evil.example/request']),
      resource: valueFrom(['https://api.example', 'urn:x', 'https://api.example#frag']),
      response_mode: valueFrom(['query', 'fragment', 'form_post', 'jwt', 'query.jwt', 'web_message']),
      org_id: valueFrom(['acme', 'a'.repeat(129)]),
      authorization_details: valueFrom(['[{"type":"x"}]', '{}']),
      dpop_jkt: valueFrom([RANDOM_TOKEN]),
      registration: valueFrom(['{}']),
      claims_locales: valueFrom(['en']),
    };
    const pkce = { response_type: 'code', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st', nonce: 'n' };
    authorizations = [
      { ...pkce, client_id: app.id, redirect_uri: w.fx.redirectUri, scope: 'openid email' },
      { ...pkce, client_id: app.id, redirect_uri: w.fx.redirectUri, scope: 'openid offline_access', prompt: 'consent', claims: '{"id_token":{"email":null}}', max_age: '60' },
      { ...pkce, client_id: thirdParty.id, redirect_uri: THIRD_PARTY_REDIRECT, scope: 'openid balance' },
      { ...pkce, client_id: w.clients.publicId, redirect_uri: 'com.example.app:/cb', scope: 'openid' },
    ];
  });
  afterAll(() => target?.close());

  it('authorization endpoint (GET and POST, and the resume route)', async () => {
    await target.run('authorization', fc.oneof(
      { weight: 5, arbitrary: paramRequest({
        methods: ['GET', 'POST'], paths: under('/auth'), known: authorizationParams,
        templates: [...authorizations, { params: { ...authorizations[0]!, prompt: 'none' } }].map((params) => ('params' in params ? params as Template : { params })),
      }) },
      { weight: 1, arbitrary: paramRequest({ methods: ['GET', 'POST'], paths: segment([RANDOM_TOKEN]).map((uid) => `/oidc/auth/${uid}`), known: {} }) },
    ), undefined, authorizationAccepted);
  }, timeoutOf('authorization'));

  it('token endpoint, every grant type', async () => {
    const { app, device, ciba } = w.clients;
    await target.run('token', paramRequest({
      methods: ['POST', 'GET', 'PUT'],
      paths: under('/token'),
      authorization: clientAuth,
      templates: [
        { params: { grant_type: 'client_credentials' }, authorization: basic(app) },
        { params: { grant_type: 'client_credentials', client_id: app.id, client_secret: app.secret, scope: 'openid' } },
        { params: { grant_type: 'authorization_code', code: RANDOM_TOKEN, redirect_uri: w.fx.redirectUri, code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' }, authorization: basic(app) },
        { params: { grant_type: 'refresh_token', refresh_token: RANDOM_TOKEN, scope: 'openid' }, authorization: basic(app) },
        { params: { grant_type: DEVICE_CODE_GRANT, device_code: w.deviceCode, client_id: device.id, client_secret: device.secret } },
        { params: { grant_type: CIBA_GRANT_TYPE, auth_req_id: w.authReqId }, authorization: basic(ciba) },
      ],
      known: {
        ...bodyCredentials,
        grant_type: valueFrom(['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT, CIBA_GRANT_TYPE,
          'password', 'implicit', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:jwt-bearer']),
        code: valueFrom([RANDOM_TOKEN]),
        redirect_uri: valueFrom([w.fx.redirectUri]),
        code_verifier: valueFrom(['dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk']),
        refresh_token: valueFrom([RANDOM_TOKEN]),
        scope: valueFrom(['openid', 'openid offline_access', 'email profile', 'balance']),
        resource: valueFrom(['https://api.example', 'urn:x']),
        device_code: valueFrom([w.deviceCode]),
        auth_req_id: valueFrom([w.authReqId]),
      },
    }), COUNTED_ATTEMPTS, oauthAccepted);
  }, timeoutOf('token'));

  it('pushed authorization requests', async () => {
    await target.run('par', paramRequest({
      methods: ['POST', 'GET'], paths: under('/request'), authorization: clientAuth, known: { ...authorizationParams, ...bodyCredentials },
      templates: [
        { params: authorizations[0]!, authorization: basic(w.clients.app) },
        { params: { ...authorizations[1]!, org_id: 'acme', client_id: w.clients.app.id, client_secret: w.clients.app.secret } },
        { params: authorizations[2]!, authorization: basic(w.clients.thirdParty) },
      ],
    }), undefined, oauthAccepted);
  }, timeoutOf('par'));

  it('revocation and introspection', async () => {
    // a token of its own to revoke: the fixture's tokens must stay valid for the other groups
    const sacrificial = (await (await fetch(`${target.idp.issuer}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: w.clients.app.id, client_secret: w.clients.app.secret }),
    })).json() as { access_token: string }).access_token;
    const known = { ...bodyCredentials, token_type_hint: valueFrom(['access_token', 'refresh_token', 'client_credentials', 'id_token']) };
    await target.run('revocationAndIntrospection', fc.oneof(
      paramRequest({
        methods: ['POST', 'GET'], paths: under('/token/revocation'), authorization: clientAuth, known: { ...known, token: valueFrom([sacrificial, RANDOM_TOKEN]) },
        templates: [{ params: { token: sacrificial, token_type_hint: 'access_token' }, authorization: basic(w.clients.app) }],
      }),
      paramRequest({
        methods: ['POST', 'GET'], paths: under('/token/introspection'), authorization: clientAuth,
        known: { ...known, token: valueFrom([w.tokens.user, w.tokens.app, w.tokens.idToken, RANDOM_TOKEN]) },
        templates: [{ params: { token: w.tokens.user }, authorization: basic(w.clients.app) }, { params: { token: w.tokens.app, client_id: w.clients.app.id, client_secret: w.clients.app.secret } }],
      }),
    ), undefined, oauthAccepted);
  }, timeoutOf('revocationAndIntrospection'));

  it('userinfo', async () => {
    await target.run('userinfo', paramRequest({
      methods: ['GET', 'POST', 'PUT', 'OPTIONS'], paths: under('/me'),
      authorization: bearerAuth([w.tokens.user, w.tokens.app, w.tokens.admin, w.tokens.idToken]),
      known: { access_token: valueFrom([w.tokens.user, w.tokens.app]), claims: hostileText },
      templates: [{ params: {}, authorization: `Bearer ${w.tokens.user}` }, { params: { access_token: w.tokens.user } }],
    }), undefined, userinfoAccepted(w.tokens.user));
  }, timeoutOf('userinfo'));

  it('RP-initiated logout', async () => {
    const logout = {
      id_token_hint: valueFrom([w.tokens.idToken, 'eyJhbGciOiJub25lIn0.e30.']),
      post_logout_redirect_uri: valueFrom(['http://localhost:8080/bye', 'https://evil.example/']),
      state: hostileText,
      client_id: valueFrom(clientIds),
      logout_hint: valueFrom([w.fx.user.email]),
      ui_locales: valueFrom(['en']),
      xsrf: valueFrom([RANDOM_TOKEN]),
      logout: valueFrom(['yes', 'no']),
    };
    await target.run('logout', fc.oneof(
      paramRequest({
        methods: ['GET', 'POST'], paths: under('/session/end'), known: logout,
        templates: [{ params: { id_token_hint: w.tokens.idToken, post_logout_redirect_uri: 'http://localhost:8080/bye', state: 'bye' } }, { params: { client_id: w.clients.app.id } }],
      }),
      paramRequest({ methods: ['POST', 'GET'], paths: under('/session/end/confirm', '/session/end/success'), known: logout }),
    ), undefined, oauthAccepted);
  }, timeoutOf('logout'));

  it('CIBA backchannel authentication', async () => {
    await target.run('backchannel', paramRequest({
      methods: ['POST', 'GET'], paths: under('/backchannel'), authorization: basicAuth([w.clients.ciba, w.clients.app]),
      templates: [
        { params: { scope: 'openid', login_hint: w.fx.user.user_id, request_context: '{"channel":"link","login_hint_type":"user_id"}', binding_message: 'W4SCT' }, authorization: basic(w.clients.ciba) },
        { params: { scope: 'openid email', login_hint: w.fx.user.email, request_context: '{"channel":"email","login_hint_type":"email"}', requested_expiry: '120' }, authorization: basic(w.clients.ciba) },
      ],
      known: {
        ...bodyCredentials,
        scope: valueFrom(['openid', 'openid email', 'openid offline_access']),
        login_hint: valueFrom([w.fx.user.user_id, w.fx.user.email, '+15555550100']),
        request_context: valueFrom([
          '{"channel":"link","login_hint_type":"user_id"}', '{"channel":"email","login_hint_type":"email"}',
          '{"channel":"sms","login_hint_type":"phone","custom_message":"Hi"}', '{"channel":"pigeon"}', '{"__proto__":{"channel":"link"}}', '[]',
        ]),
        binding_message: valueFrom(['W4SCT', 'a'.repeat(21), 'héllo']),
        requested_expiry: valueFrom(['60', '0', '-5', '1e9', 'abc']),
        acr_values: valueFrom(['sfa', 'mfa']),
        id_token_hint: valueFrom([w.tokens.idToken]),
        login_hint_token: hostileText,
        user_code: hostileText,
        client_notification_token: hostileText,
      },
    }), undefined, backchannelAccepted(w.clients.ciba.id));
  }, timeoutOf('backchannel'));

  it('device authorization and the code entry pages', async () => {
    await target.run('device', fc.oneof(
      paramRequest({
        methods: ['POST', 'GET'], paths: under('/device/auth'), authorization: basicAuth([w.clients.device, w.clients.app]),
        known: { ...bodyCredentials, client_id: valueFrom([w.clients.device.id, w.clients.app.id]), scope: valueFrom(['openid', 'openid email offline_access', 'balance']), resource: hostileText },
        templates: [{ params: { client_id: w.clients.device.id, client_secret: w.clients.device.secret, scope: 'openid email' } }],
      }),
      paramRequest({
        methods: ['POST', 'GET'], paths: under('/device'),
        known: { xsrf: valueFrom([w.devicePage.xsrf, RANDOM_TOKEN]), user_code: valueFrom([w.userCode, w.userCode.toLowerCase(), 'BCDF-GHJK']), confirm: valueFrom(['yes']), abort: valueFrom(['yes']) },
        templates: [
          { params: { xsrf: w.devicePage.xsrf, user_code: 'BCDF-GHJK' }, headers: { cookie: w.devicePage.cookie } },
          { params: { xsrf: w.devicePage.xsrf, user_code: w.userCode }, headers: { cookie: w.devicePage.cookie } },
        ],
      }),
      paramRequest({ methods: ['GET'], paths: segment([RANDOM_TOKEN]).map((uid) => `/oidc/device/${uid}`), known: {} }),
    // oidc-provider renders the code page again after a wrong code with a new xsrf value, kept in the browser session
    ), [...COUNTED_ATTEMPTS, /^oidc:Session:/], oauthAccepted);
  }, timeoutOf('device'));

  it('discovery, JWKS and routes that do not exist', async () => {
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE');
    await target.run('discovery', fc.oneof(
      paramRequest({
        methods: ['GET', 'POST', 'OPTIONS'],
        // RFC 8414's place for the issuer /oidc is at the root (lib/http/well-known.ts)
        paths: fc.oneof(under('/.well-known/openid-configuration', '/jwks', '/.well-known/oauth-authorization-server'), fc.constant('/.well-known/oauth-authorization-server/oidc')),
        known: {},
      }),
      fc.record({ method, path: fc.tuple(fc.constantFrom('/oidc/', '/cis/oidc/', '/', '/cis/', '/.well-known/'), segment(['auth', 'token', 'reg', 'interaction'])).map(([base, rest]) => base + rest) })
        .map(({ method: m, path }) => ({ method: m, path, headers: {} })),
    ), undefined, oauthAccepted);
  }, timeoutOf('discovery'));
});
