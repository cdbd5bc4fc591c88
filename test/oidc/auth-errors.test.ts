import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { createFixture, startIdp, type Fixture, type TestIdp } from '../support/idp.js';

/**
 * Seed 002 documents the errors of GET /oidc/auth as `{ "message": "Bad request", "error_code": 400 }`
 * (application/json); a browser still gets a page. Only errors that cannot be sent back to the
 * client's redirect URI are answered here.
 */
describe('errors of /oidc/auth that cannot go back to the client', () => {
  let t: TestIdp;
  let fx: Fixture;

  beforeAll(async () => {
    t = await startIdp({ store: 'redis' });
    fx = await createFixture(t);
  });
  afterAll(() => t.close());

  /** GET /auth with exactly these headers (node:http: fetch would set Sec-Fetch-Mode itself). */
  const authorize = (base: string, params: Record<string, string>, headers: Record<string, string>) =>
    new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
      const url = `${base}/auth?${new URLSearchParams({ response_type: 'code', scope: 'openid', ...params })}`;
      http.get(url, { headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { body += chunk; });
        res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
      }).on('error', reject);
    });

  it.each([['', 'without'], ['/cis', 'with']])('answers JSON to a caller asking for it (%s prefix: %s /cis)', async (prefix) => {
    const base = `${t.url}${prefix}/oidc`;
    const unknownClient = await authorize(base, { client_id: 'no-such-client', redirect_uri: fx.redirectUri }, { accept: 'application/json' });
    expect({ status: unknownClient.status, type: unknownClient.type }).toEqual({ status: 400, type: 'application/json; charset=utf-8' });
    expect(JSON.parse(unknownClient.body)).toEqual({ message: 'client is invalid', error_code: 400, error: 'invalid_client' });

    const unregistered = await authorize(base, { client_id: fx.client.client_id, redirect_uri: 'https://evil.example/cb' }, { accept: 'application/json' });
    expect(unregistered.status).toBe(400);
    expect(JSON.parse(unregistered.body)).toEqual({
      message: "redirect_uri did not match any of the client's registered redirect_uris", error_code: 400, error: 'invalid_redirect_uri',
    });
  });

  it('answers a page to a browser navigation, and to a caller that does not ask for JSON', async () => {
    for (const headers of [
      { accept: 'text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8', 'sec-fetch-mode': 'navigate' },
      { accept: 'application/json', 'sec-fetch-mode': 'navigate' },
      { accept: '*/*' },
    ] as Array<Record<string, string>>) {
      const res = await authorize(`${t.url}/oidc`, { client_id: 'no-such-client', redirect_uri: fx.redirectUri }, headers);
      expect({ headers, status: res.status, type: res.type }).toEqual({ headers, status: 400, type: 'text/html; charset=utf-8' });
      expect(res.body).toContain('client is invalid');
    }
  });
});
