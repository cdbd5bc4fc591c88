import { Browser } from '../support/browserless.js';
import { answer, authorize, BANK_SCOPES, createThirdParty, THIRD_PARTY_REDIRECT } from '../support/consent.js';
import { api, clientCredentialsToken, createFixture, type Fixture, type IdpEndpoint } from '../support/idp.js';
import { DEVICE_CODE_GRANT } from '../../lib/clients/schema.js';
import { CIBA_GRANT_TYPE } from '../../lib/ciba/hooks.js';

/** IDP_CONFIG of the fuzz target: the bank's scopes, so third-party consent has something to ask. */
export const FUZZ_CONFIG = { scopes: BANK_SCOPES };

export { DEVICE_CODE_GRANT, CIBA_GRANT_TYPE, THIRD_PARTY_REDIRECT };

interface Client { id: string; secret: string }

/** Real things for the fuzzers to aim at, so that requests get past the first checks. */
export interface World {
  fx: Fixture;
  /** first-party confidential, third-party, device, CIBA and PKCE-only public clients */
  clients: { app: Client; thirdParty: Client; device: Client; ciba: Client; publicId: string };
  tokens: {
    admin: string;
    /** client_credentials token of the first-party app (no roles) */
    app: string;
    /** client_credentials token of the third party */
    thirdParty: string;
    /** the user's access token from the first-party app, and the ID token beside it */
    user: string;
    idToken: string;
  };
  /** a backend session of the user */
  sessionId: string;
  consentId: string;
  deviceCode: string;
  userCode: string;
  authReqId: string;
  /** an open third-party consent request */
  srcInteraction: string;
  /** a browser at the device code page: its cookies and the form's xsrf value */
  devicePage: { cookie: string; xsrf: string };
}

const post = (url: string, form: Record<string, string>) => fetch(url, {
  method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form),
}).then((r) => r.json() as Promise<Record<string, string>>);

export async function buildWorld(t: IdpEndpoint): Promise<World> {
  const fx = await createFixture(t);
  const tp = await createThirdParty(t, fx, { grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
  const created = async (settings: Record<string, unknown>) => {
    const response = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, settings);
    if (response.status !== 201) throw new Error(`client: ${JSON.stringify(response.body)}`);
    return response.body as { client_id: string; client_secret: string };
  };
  const device = await created({ name: 'TV', grant_types: [DEVICE_CODE_GRANT, 'refresh_token'], scopes: ['openid', 'email', 'offline_access'] });
  const ciba = await created({ name: 'Call center', redirect_uris: ['https://callcenter.example/cb'] });
  await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${ciba.client_id}`, {
    ciba_authorization: { enabled: true, login_uri: 'https://bank.example/ciba-login' },
  });
  const pub = await created({ name: 'Mobile', client_type: 'native', redirect_uris: ['com.example.app:/cb'], pkce: 'enforce_instead_of_secret', grant_types: ['authorization_code', 'refresh_token'] });

  const appToken = await clientCredentialsToken(t.issuer, fx.client.client_id, fx.client.client_secret);
  const signedIn = await api(t, 'POST', '/v1/auth/password/authenticate', { identifier: fx.user.email, password: fx.user.password }, appToken);

  // a consent the user gave the third party, and a consent request still open
  const browser = new Browser();
  const asked = await authorize(t, fx, tp, browser, { scope: 'openid balance' });
  await answer(t, browser, asked.url, true);
  const consents = await api(t, 'GET', `/v1/consents?user_id=${fx.user.user_id}`);
  const open = await authorize(t, fx, tp, new Browser(), { scope: 'openid balance transactions', prompt: 'consent' });

  const deviceStart = await post(`${t.issuer}/device/auth`, { client_id: device.client_id, client_secret: device.client_secret, scope: 'openid' });
  const backchannel = await post(`${t.issuer}/backchannel`, {
    client_id: ciba.client_id, client_secret: ciba.client_secret, scope: 'openid', login_hint: fx.user.user_id,
    request_context: JSON.stringify({ channel: 'link', login_hint_type: 'user_id' }),
  });

  const deviceBrowser = new Browser();
  const devicePage = await (await deviceBrowser.request(`${t.issuer}/device`)).text();

  const world: World = {
    fx,
    clients: {
      app: { id: fx.client.client_id, secret: fx.client.client_secret },
      thirdParty: { id: tp.client_id, secret: tp.client_secret },
      device: { id: device.client_id, secret: device.client_secret },
      ciba: { id: ciba.client_id, secret: ciba.client_secret },
      publicId: pub.client_id,
    },
    tokens: {
      admin: await t.adminToken(),
      app: appToken,
      thirdParty: await clientCredentialsToken(t.issuer, tp.client_id, tp.client_secret),
      user: signedIn.body.access_token,
      idToken: signedIn.body.id_token,
    },
    sessionId: signedIn.body.session_id,
    consentId: consents.body.consents[0].consent_id,
    deviceCode: deviceStart.device_code!,
    userCode: deviceStart.user_code!,
    authReqId: backchannel.auth_req_id!,
    srcInteraction: open.url.searchParams.get('src_interaction')!,
    devicePage: { cookie: deviceBrowser.jar.header(`${t.issuer}/device`), xsrf: /name="xsrf" value="([^"]+)"/.exec(devicePage)?.[1] ?? '' },
  };
  for (const [name, value] of Object.entries({ ...world.tokens, ...world, fx: 'x', clients: 'x', tokens: 'x' })) {
    if (!value) throw new Error(`fuzz fixture ${name} is missing`);
  }
  return world;
}
