import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { api, clientCredentialsToken, type IdpEndpoint } from '../support/idp.js';
import { startFuzzTarget, type FuzzTarget } from './target.js';
import { bearerAuth, hostileText, jsonRequest, percentEncode, query, segment, valueFrom } from './hostile.js';
import { buildWorld, FUZZ_CONFIG, type World } from './fixtures.js';
import { timeoutOf } from './groups.js';
import { managementAccepted } from './accepted.js';

const RANDOM_ID = 'Xq3vJz1lK8mN0pR7sT2uW5yA4bC6dE9fG1hI3jK5lM7';

/** Valid bodies, which the fuzzer sends as they are or broken in one place. */
const BODIES = {
  user: {
    email: 'fuzz@example.com', email_verified: true, password: 'a long passphrase', phone_number: '+15555550123', username: 'fuzz',
    given_name: 'Fuzz', birthday: '2000-01-01', custom_data: { plan: 'gold' }, groups: ['staff'],
  },
  userChange: { given_name: 'Renamed', custom_data: { tier: 2 }, roles: ['r'], phone_number_verified: true },
  app: { name: 'Fuzz app', description: 'made by the fuzzer' },
  client: {
    name: 'Web', redirect_uris: ['http://localhost:8080/cb'], post_logout_redirect_uris: ['http://localhost:8080/bye'],
    grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid', 'email', 'offline_access'], token_endpoint_auth_method: 'client_secret_basic',
    id_token_claims: ['email', 'tid'], allowed_prompts: ['login', 'none', 'consent'], access_token_ttl: 600, pkce: 'enforce_with_secret',
    resources: ['https://api.kept.example'],
  },
  clientChange: {
    access_token_ttl: 120, token_binding: 'dpop', client_type: 'native', redirect_uris: ['com.example.app:/cb', 'http://localhost:8080/cb'],
    jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] },
    ciba_authorization: { enabled: true, login_uri: 'https://bank.example/ciba' }, roles: ['viewer'],
  },
  resource: { uri: 'https://api.fuzz.example/v1', name: 'API', access_token_ttl: 900, refresh_token_ttl: 3600, scopes: ['read', 'write'] },
  resourceChange: { name: 'Renamed', access_token_ttl: 60, scopes: ['read'] },
};

async function created(t: IdpEndpoint, path: string, body: unknown): Promise<Record<string, any>> {
  const answer = await api(t, 'POST', path, body);
  if (answer.status !== 201) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/**
 * The management API (/v1/...) with the admin's token mostly, and every other kind of token.
 * What it changes is kept (updates land on it all run long); what it deletes is doomed, so
 * that one early DELETE does not turn the rest of the run into 404s.
 */
describe('fuzzing the management API', () => {
  let target: FuzzTarget;
  let w: World;
  let tokens: fc.Arbitrary<string>;
  let accepted: ReturnType<typeof managementAccepted>;
  const kept = { appId: '', clientId: '', resourceId: '', userId: '' };
  const doomed = { appId: '', clientId: '', secretId: '', resourceId: '', userId: '' };

  beforeAll(async () => {
    target = await startFuzzTarget(FUZZ_CONFIG);
    w = await buildWorld(target.idp);
    const t = target.idp;
    const viewer = await created(t, `/v1/applications/${w.fx.appId}/clients`, { name: 'Viewer', grant_types: ['client_credentials'], scopes: [], roles: ['viewer'] });
    const viewerToken = await clientCredentialsToken(t.issuer, viewer.client_id, viewer.client_secret);
    tokens = bearerAuth([w.tokens.user, w.tokens.app, w.tokens.thirdParty, viewerToken]);
    accepted = managementAccepted(w.tokens.admin, viewerToken);

    kept.appId = (await created(t, '/v1/applications', BODIES.app)).app_id;
    kept.resourceId = (await created(t, `/v1/applications/${kept.appId}/resources`, { uri: 'https://api.kept.example', access_token_ttl: 600 })).resource_id;
    kept.clientId = (await created(t, `/v1/applications/${kept.appId}/clients`, BODIES.client)).client_id;
    kept.userId = (await created(t, '/v1/users', { ...BODIES.user, email: 'kept@example.com', username: 'kept', phone_number: '+15555550124' })).user_id;
    doomed.appId = (await created(t, '/v1/applications', { name: 'Doomed' })).app_id;
    const doomedClient = await created(t, `/v1/applications/${kept.appId}/clients`, { name: 'Doomed', redirect_uris: ['http://localhost:8080/cb'] });
    doomed.clientId = doomedClient.client_id;
    doomed.secretId = doomedClient.secrets[0].secret_id;
    doomed.resourceId = (await created(t, `/v1/applications/${kept.appId}/resources`, { uri: 'https://api.doomed.example', access_token_ttl: 600 })).resource_id;
    doomed.userId = (await created(t, '/v1/users', { email: 'doomed@example.com' })).user_id;

    // every change body works as it is: the fuzzer starts from requests that get all the way in
    for (const [path, body] of [
      [`/v1/users/${kept.userId}`, BODIES.userChange],
      [`/v1/applications/${kept.appId}/clients/${kept.clientId}`, BODIES.clientChange],
      [`/v1/applications/${kept.appId}/resources/${kept.resourceId}`, BODIES.resourceChange],
    ] as const) expect({ path, status: (await api(t, 'PUT', path, body)).status }).toEqual({ path, status: 200 });
  });
  afterAll(() => target?.close());

  it('users', async () => {
    await target.run('managementUsers', jsonRequest([
      { methods: ['POST', 'GET'], paths: fc.constantFrom('/v1/users', '/v1/users/', '/cis/v1/users'), body: BODIES.user },
      { methods: ['PUT', 'GET'], paths: segment([kept.userId, w.fx.user.user_id]).map((id) => `/v1/users/${id}`), body: BODIES.userChange },
      { methods: ['DELETE'], paths: segment([doomed.userId]).map((id) => `/v1/users/${id}`) },
    ], w.tokens.admin, tokens), undefined, accepted);
  }, timeoutOf('managementUsers'));

  it('applications, clients, secrets, token revocation and resources', async () => {
    const app = segment([kept.appId]).map((id) => `/v1/applications/${id}`);
    const client = fc.tuple(app, segment([kept.clientId])).map(([base, id]) => `${base}/clients/${id}`);
    const resource = fc.tuple(app, segment([kept.resourceId])).map(([base, id]) => `${base}/resources/${id}`);
    await target.run('managementApplications', jsonRequest([
      { methods: ['POST', 'GET'], paths: fc.constantFrom('/v1/applications', '/cis/v1/applications/'), body: BODIES.app },
      { methods: ['PUT', 'GET'], paths: app, body: { name: 'Renamed', description: '' } },
      { methods: ['POST', 'GET'], paths: app.map((base) => `${base}/clients`), body: BODIES.client },
      { methods: ['PUT', 'GET'], paths: client, body: BODIES.clientChange },
      { methods: ['POST'], paths: fc.constantFrom(kept.clientId, doomed.clientId).map((id) => `/v1/applications/${kept.appId}/clients/${id}/secrets/rotate`) },
      // revoking every token of a client (none of the world's clients: their tokens stay usable)
      { methods: ['POST'], paths: fc.constantFrom(kept.clientId, doomed.clientId, RANDOM_ID).map((id) => `/v1/applications/${kept.appId}/clients/${id}/tokens/revoke`) },
      { methods: ['POST', 'GET'], paths: app.map((base) => `${base}/resources`), body: BODIES.resource },
      { methods: ['PUT', 'GET'], paths: resource, body: BODIES.resourceChange },
      {
        methods: ['DELETE'],
        paths: fc.constantFrom(
          `/v1/applications/${doomed.appId}`, `/v1/applications/${kept.appId}/clients/${doomed.clientId}`,
          `/v1/applications/${kept.appId}/clients/${doomed.clientId}/secrets/${doomed.secretId}`, `/v1/applications/${kept.appId}/resources/${doomed.resourceId}`,
        ),
      },
    ], w.tokens.admin, tokens), undefined, accepted);
  }, timeoutOf('managementApplications'));

  it('consents, receipts, consent requests and unknown routes', async () => {
    const filters = query({ user_id: valueFrom([w.fx.user.user_id]), client_id: valueFrom([w.clients.thirdParty.id]) });
    await target.run('managementOther', jsonRequest([
      { methods: ['GET', 'POST', 'DELETE'], paths: fc.tuple(fc.constantFrom('/v1/consents', '/v1/consent-receipts', '/cis/v1/consents'), filters).map(([path, q]) => path + q) },
      { methods: ['GET', 'DELETE', 'PUT'], paths: segment([w.consentId, RANDOM_ID]).map((id) => `/v1/consents/${id}`), body: {} },
      { methods: ['GET', 'POST'], paths: segment([w.srcInteraction, RANDOM_ID]).map((id) => `/v1/consent-requests/${id}`) },
      {
        methods: ['GET', 'POST', 'PUT', 'DELETE'],
        paths: fc.tuple(segment(['users', 'applications', 'consents', 'me', 'auth', 'Users', 'APPLICATIONS']), fc.option(hostileText.map(percentEncode)))
          .map(([area, rest]) => `/v1/${area}${rest === null ? '' : `/${rest}`}`),
        body: { name: 'x' },
      },
    ], w.tokens.admin, tokens), undefined, accepted);
  }, timeoutOf('managementOther'));
});
