import { afterAll, beforeAll, describe, it } from '@jest/globals';
import fc from 'fast-check';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { COUNTED_ATTEMPTS, startFuzzTarget, type FuzzTarget } from './target.js';
import { bearerAuth, jsonRequest, paramRequest, segment, valueFrom } from './hostile.js';
import { buildWorld, FUZZ_CONFIG, type World } from './fixtures.js';
import { timeoutOf } from './groups.js';
import { backendAuthAccepted, consentCallbackAccepted, hostedLoginAccepted, onlyWith } from './accepted.js';

const RANDOM_HANDLE = 'Xq3vJz1lK8mN0pR7sT2uW5yA4bC6dE9fG1hI3jK5lM7';
const both = (...paths: string[]) => fc.constantFrom(...paths.flatMap((path) => [path, `/cis${path}`]));

/**
 * Our own endpoints: the consent callback, CIBA completion, backend authentication and
 * session APIs, self-service consents and the hosted login pages.
 */
describe('fuzzing our own endpoints', () => {
  let target: FuzzTarget;
  let w: World;
  let tokens: fc.Arbitrary<string>;

  beforeAll(async () => {
    target = await startFuzzTarget(FUZZ_CONFIG);
    w = await buildWorld(target.idp);
    tokens = bearerAuth([w.tokens.user, w.tokens.app, w.tokens.admin, w.tokens.thirdParty, w.tokens.idToken]);
  });
  afterAll(() => target?.close());

  it('consent callback', async () => {
    await target.run('consentCallback', paramRequest({
      methods: ['GET', 'POST', 'HEAD', 'OPTIONS'],
      paths: both('/auth/consent/callback'),
      known: { src_interaction: valueFrom([w.srcInteraction, RANDOM_HANDLE]), approved: valueFrom(['true', 'false', 'TRUE', '1', 'yes']) },
      templates: [
        { params: { src_interaction: w.srcInteraction, approved: 'true' }, headers: { origin: 'https://bank.example' } },
        { params: { src_interaction: w.srcInteraction, approved: 'false' }, headers: { 'sec-fetch-mode': 'navigate' } },
      ],
    // by design a second answer to one interaction is refused and cancels the first (lib/consents/requests.ts)
    }), [/^consent-settled:/], consentCallbackAccepted(target.idp.url));
  }, timeoutOf('consentCallback'));

  it('CIBA completion', async () => {
    await target.run('backchannelComplete', jsonRequest([{
      methods: ['POST', 'GET', 'PUT'],
      paths: both('/auth/backchannel/complete'),
      body: { auth_req_id: w.authReqId, approved: false },
    }], w.tokens.user, tokens), undefined, onlyWith(w.tokens.user));
  }, timeoutOf('backchannelComplete'));

  it('backend authentication and IdP session APIs', async () => {
    const auth = (path: string) => both(`/v1/auth/${path}`);
    await target.run('backendAuth', jsonRequest([
      { methods: ['POST', 'GET'], paths: auth('password/authenticate'), body: { identifier: w.fx.user.email, password: 'not the password', claims: { id_token: { email: null } } } },
      { methods: ['POST'], paths: auth('session/authenticate'), body: { session_id: w.sessionId, claims: { userinfo: { email: { essential: true } } } } },
      { methods: ['POST'], paths: auth('session/logout'), body: { session_id: RANDOM_HANDLE } },
      { methods: ['POST'], paths: auth('otp/send'), body: { channel: 'email', identifier: w.fx.user.email } },
      { methods: ['POST'], paths: auth('otp/authenticate'), body: { identifier: w.fx.user.email, passcode: '000000', session_id: w.sessionId } },
      { methods: ['POST', 'GET', 'DELETE'], paths: segment(['password', 'session', 'otp', '']).map((rest) => `/v1/auth/${rest}`) },
    ], w.tokens.app, tokens), COUNTED_ATTEMPTS, backendAuthAccepted(w.tokens.app));
  }, timeoutOf('backendAuth'));

  it('self-service consents', async () => {
    await target.run('selfService', jsonRequest([
      { methods: ['GET', 'POST', 'DELETE'], paths: both('/v1/me/consents', '/v1/me', '/v1/me/') },
      { methods: ['DELETE', 'GET', 'PUT'], paths: segment([w.consentId, RANDOM_HANDLE]).map((id) => `/v1/me/consents/${id}`), body: {} },
    ], w.tokens.user, tokens), undefined, onlyWith(w.tokens.user));
  }, timeoutOf('selfService'));

  it('hosted login pages', async () => {
    // a few sign-ins waiting at the login page: their interaction ids, cookies and form tokens
    const rp = await oidc.discovery(new URL(target.idp.issuer), w.clients.app.id, w.clients.app.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const waiting = await Promise.all([0, 1, 2].map(async () => {
      const browser = new Browser();
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: w.fx.redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      });
      const page = await browser.follow(url.href, target.idp.url);
      const html = await page.response.text();
      const uid = /\/interaction\/([^/"]+)\/login/.exec(html)![1]!;
      return { uid, csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]!, cookie: browser.jar.header(`${target.idp.url}/interaction/${uid}/login`) };
    }));
    const csrfs = waiting.map((page) => page.csrf);
    await target.run('hostedLogin', fc.oneof(...waiting.flatMap(({ uid, csrf, cookie }) => [
      paramRequest({
        methods: ['POST', 'GET'],
        paths: fc.tuple(fc.constantFrom('', '/cis'), segment([uid])).map(([prefix, id]) => `${prefix}/interaction/${id}/login`),
        known: {
          csrf: valueFrom(csrfs),
          identifier: valueFrom([w.fx.user.email, w.fx.user.email.toUpperCase(), '+15555550100']),
          // never the right password: the interactions must stay open for the whole run
          password: valueFrom(['not the password', 'x'.repeat(257)]),
        },
        templates: [{ params: { csrf, identifier: w.fx.user.email, password: 'not the password' }, headers: { cookie } }],
      }),
      // the page itself and the routes beside it (abort only without the cookie, which would end the interaction)
      paramRequest({
        methods: ['GET', 'POST'],
        paths: fc.tuple(fc.constantFrom('', '/cis'), segment([uid]), fc.constantFrom('', '/consent', '/abort', '/x')).map(([prefix, id, rest]) => `${prefix}/interaction/${id}${rest}`),
        known: { uid: valueFrom([uid]) },
        templates: [{ params: {}, headers: { cookie } }],
      }).filter((sent) => !sent.path.endsWith('/abort') || !sent.headers.cookie),
    ])), undefined, hostedLoginAccepted);
  }, timeoutOf('hostedLogin'));
});

