import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, clientCredentialsToken, createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';

/** What the fuzzers found (each was a 500), replayed as fixed cases. */
describe('inputs the fuzzers found', () => {
  let t: TestIdp;
  let fx: Fixture;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  it('an X-Forwarded-Host or -Proto that is no origin gets 400; a proper one is used; health checks ignore it', async () => {
    const unusable: Array<Record<string, string>> = [
      { 'x-forwarded-host': '%00' }, { 'x-forwarded-host': 'a b' }, { 'x-forwarded-host': 'evil.example/path' }, { 'x-forwarded-proto': 'gopher' },
    ];
    for (const headers of unusable) {
      for (const [method, path] of [['POST', '/oidc/device'], ['GET', '/oidc/.well-known/openid-configuration'], ['GET', '/v1/applications']]) {
        const response = await fetch(`${t.url}${path}`, { method, headers });
        expect({ headers, path, status: response.status }).toEqual({ headers, path, status: 400 });
        expect(await response.json()).toEqual({ message: expect.stringMatching(/^Bad request: the Host/), error_code: 400 });
      }
    }
    const proxied = await (await fetch(`${t.url}/oidc/.well-known/openid-configuration`, { headers: { 'x-forwarded-host': 'idp.example:8443', 'x-forwarded-proto': 'https' } })).json() as { token_endpoint: string };
    expect(proxied.token_endpoint).toBe('https://idp.example:8443/oidc/token');
    expect((await fetch(`${t.url}/healthz`, { headers: { 'x-forwarded-host': '%00' } })).status).toBe(200);
  });

  it('a JSON member named like a built-in of every object (constructor, toString, __proto__) gets 400 naming it', async () => {
    const appToken = await clientCredentialsToken(t.issuer, fx.client.client_id, fx.client.client_secret);
    const cases: Array<[string, string, string | undefined, string]> = [
      ['POST', '/v1/users', undefined, '{"email":"c@example.com","constructor":{"a":1}}'],
      ['PUT', `/v1/users/${fx.user.user_id}`, undefined, '{"custom_data":{"nested":[{"toString":1}]}}'],
      ['POST', '/v1/auth/session/authenticate', appToken, '{"session_id":{"toString":{"a":true}}}'],
      ['POST', '/auth/backchannel/complete', appToken, '{"auth_req_id":"x","approved":false,"constructor":{}}'],
    ];
    for (const [method, path, token, body] of cases) {
      const answer = await api(t, method, path, body, token);
      const name = /"(constructor|toString)"/.exec(body)![1];
      expect({ path, status: answer.status, ...answer.body }).toEqual({ path, status: 400, message: `field name not allowed: ${name}`, error_code: 400 });
    }
    expect((await api(t, 'GET', `/v1/users/${fx.user.user_id}`)).body.custom_data).toBeUndefined();
    // __proto__ never gets that far: the body parser refuses it
    expect(await api(t, 'POST', '/v1/applications', '{"name":"x","__proto__":{"roles":["admin"]}}')).toMatchObject({ status: 400, body: { error_code: 400 } });
  });

  it('null, or a value of the wrong JSON type where a string or an array belongs, gets 400 naming the field', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/v1/users', { email: { a: null }, password: 'a long passphrase' }, 'email must be a `string` type'],
      ['PUT', `/v1/users/${fx.user.user_id}`, { groups: ['a', ['b']] }, 'groups[1] must be a `string` type'],
      ['POST', `/v1/applications/${fx.appId}/clients`, { name: 'x', redirect_uris: ['http://localhost:8080/cb'], scopes: { length: 3 } }, 'scopes must be a `array` type'],
      ['PUT', `/v1/applications/${fx.appId}/clients/${fx.client.client_id}`, { grant_types: 5 }, 'grant_types must be a `array` type'],
      ['POST', '/v1/applications', { name: ['x'] }, 'name must be a `string` type'],
      ['PUT', `/v1/applications/${fx.appId}/clients/${fx.client.client_id}`, { redirect_uris: null }, 'redirect_uris cannot be null'],
      ['PUT', `/v1/applications/${fx.appId}/clients/${fx.client.client_id}`, { ciba_authorization: { enabled: null } }, 'ciba_authorization.enabled cannot be null'],
    ];
    for (const [method, path, body, message] of cases) {
      expect({ path, ...(await api(t, method, path, body)) }).toMatchObject({ path, status: 400, body: { message, error_code: 400 } });
    }
  });

  it('deeply nested JSON gets 400 (it overflowed the validator\'s stack)', async () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    expect(await api(t, 'POST', '/v1/applications', `{"name":${deep}}`)).toEqual(expect.objectContaining({
      status: 400, body: { message: 'JSON nested deeper than 32 levels', error_code: 400 },
    }));
    expect(await api(t, 'POST', '/v1/applications', deep)).toMatchObject({ status: 400, body: { error_code: 400 } });
    // custom data may still nest as data does
    const nested = { a: { b: { c: { d: { e: { f: [1, [2, [3]]] } } } } } };
    expect(await api(t, 'PUT', `/v1/users/${fx.user.user_id}`, { custom_data: nested })).toMatchObject({ status: 200, body: { custom_data: nested } });
  });
});
