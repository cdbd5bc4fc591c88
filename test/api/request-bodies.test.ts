import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { createFixture, uniquePrefix, type Fixture } from '../support/idp.js';
import { startIdpProcess, type IdpProcess } from '../support/idp-process.js';

interface Case {
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
  /** the JSON answer, or a text the HTML page must show */
  answer: Record<string, unknown> | string;
}

const UNCOMPRESSED = (coding: string) => `Content-Encoding ${coding} is not supported: send the body uncompressed`;
const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };

/** The answer as the server wrote it, over a raw socket: the body may be cut short of its Content-Length. */
function rawRequest(port: number, path: string, headers: Record<string, string>, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => { received += chunk.toString(); });
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    const head = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', ...headers }).map(([name, value]) => `${name}: ${value}`).join('\r\n');
    socket.end(`POST ${path} HTTP/1.1\r\n${head}\r\n\r\n${body}`);
  });
}

/**
 * Request bodies no parser can read, on every surface that reads one: our REST API (before
 * and after authentication), CIBA completion, the sign-in form and oidc-provider's endpoints.
 * Each is a 4xx naming the problem, and the server logs no failure and no stack trace.
 */
describe('request bodies that cannot be read', () => {
  let idp: IdpProcess;
  let fx: Fixture;
  let token: string;

  beforeAll(async () => {
    idp = await startIdpProcess({ redisUrl: process.env.REDIS_URL!, prefix: uniquePrefix() });
    fx = await createFixture(idp);
    token = await idp.adminToken();
  });
  afterAll(() => idp?.kill('SIGTERM'));

  it('a body in a content coding (gzip, deflate, br, any) is 415 with Accept-Encoding: identity, before authentication too', async () => {
    const user = JSON.stringify({ email: 'compressed@example.com' });
    const cases: Case[] = ['gzip', 'deflate', 'br', 'x-unknown'].flatMap((coding): Case[] => [
      { path: '/v1/users', headers: { ...JSON_TYPE, 'content-encoding': coding, authorization: `Bearer ${token}` }, body: user, status: 415, answer: { message: UNCOMPRESSED(coding), error_code: 415 } },
      { path: '/v1/users', headers: { ...JSON_TYPE, 'content-encoding': coding }, body: user, status: 415, answer: { message: UNCOMPRESSED(coding), error_code: 415 } },
      { path: '/auth/backchannel/complete', headers: { ...JSON_TYPE, 'content-encoding': coding }, body: '{"auth_req_id":"x","approved":false}', status: 415, answer: { message: UNCOMPRESSED(coding), error_code: 415 } },
      { path: '/interaction/x/login', headers: { ...FORM_TYPE, 'content-encoding': coding }, body: 'csrf=x&identifier=a&password=b', status: 415, answer: UNCOMPRESSED(coding) },
      // oidc-provider read such a body as plain text: a valid grant labelled gzip got its token (200)
      {
        path: '/oidc/token', headers: { ...FORM_TYPE, 'content-encoding': coding },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fx.client.client_id, client_secret: fx.client.client_secret }).toString(),
        status: 415, answer: { error: 'invalid_request', error_description: UNCOMPRESSED(coding) },
      },
      { path: '/oidc/request', headers: { ...FORM_TYPE, 'content-encoding': coding }, body: 'client_id=x', status: 415, answer: { error: 'invalid_request', error_description: UNCOMPRESSED(coding) } },
      { path: '/oidc/device', headers: { ...FORM_TYPE, 'content-encoding': coding }, body: 'user_code=x', status: 415, answer: { error: 'invalid_request', error_description: UNCOMPRESSED(coding) } },
    ]);
    for (const { path, headers, body, status, answer } of cases) {
      const response = await fetch(`${idp.url}${path}`, { method: 'POST', headers, body });
      const text = await response.text();
      const seen = typeof answer === 'string' ? (text.includes(answer) ? answer : text.slice(0, 300)) : JSON.parse(text);
      expect({ path, headers, status: response.status, answer: seen }).toEqual({ path, headers, status, answer });
      expect({ path, acceptEncoding: response.headers.get('accept-encoding') })
        .toEqual({ path, acceptEncoding: path.startsWith('/interaction/') ? null : 'identity' });
    }
    // no failure of ours in the log, no stack trace anywhere
    expect(idp.errorLogs()).toEqual([]);
  });

  it('a charset other than UTF-8, a body that is not JSON, an oversized or a cut-off body are 4xx naming the problem', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const cases: Case[] = [
      { path: '/v1/users', headers: { ...auth, 'content-type': 'application/json; charset=utf-16' }, body: '{}', status: 415, answer: { message: 'charset utf-16 is not supported: send the body in UTF-8', error_code: 415 } },
      { path: '/v1/users', headers: { ...auth, 'content-type': 'application/json; charset=bogus' }, body: '{}', status: 415, answer: { message: 'charset bogus is not supported: send the body in UTF-8', error_code: 415 } },
      { path: '/interaction/x/login', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=bogus' }, body: 'a=b', status: 415, answer: 'charset bogus is not supported: send the body in UTF-8' },
      { path: '/v1/users', headers: { ...auth, ...JSON_TYPE }, body: '{"email":', status: 400, answer: { message: 'Request body is not valid JSON (an object or an array)', error_code: 400 } },
      { path: '/v1/users', headers: { ...auth, ...JSON_TYPE }, body: '"a string"', status: 400, answer: { message: 'Request body is not valid JSON (an object or an array)', error_code: 400 } },
      { path: '/v1/users', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}', status: 400, answer: { message: 'Request body must be a JSON object', error_code: 400 } },
      { path: '/v1/users', headers: { ...auth, ...JSON_TYPE }, body: JSON.stringify({ email: 'x'.repeat(70_000) }), status: 413, answer: { message: 'Request body too large', error_code: 413 } },
      { path: '/interaction/x/login', headers: FORM_TYPE, body: `password=${'x'.repeat(20_000)}`, status: 413, answer: 'Request body too large' },
      { path: '/oidc/token', headers: { 'content-type': 'text/plain' }, body: 'grant_type=client_credentials', status: 400, answer: { error: 'invalid_request', error_description: 'only application/x-www-form-urlencoded content-type bodies are supported on POST /token' } },
      { path: '/oidc/token', headers: FORM_TYPE, body: `grant_type=${'x'.repeat(60_000)}`, status: 400, answer: { error: 'invalid_request', error_description: 'failed to parse the request body' } },
    ];
    for (const { path, headers, body, status, answer } of cases) {
      const response = await fetch(`${idp.url}${path}`, { method: 'POST', headers, body });
      const text = await response.text();
      const seen = typeof answer === 'string' ? (text.includes(answer) ? answer : text.slice(0, 300)) : JSON.parse(text);
      expect({ path, headers, status: response.status, answer: seen }).toEqual({ path, headers, status, answer });
    }
    // a body cut off before its Content-Length: the connection ends with 400, nothing is logged
    for (const [path, headers] of [['/v1/users', { ...auth, ...JSON_TYPE }], ['/interaction/x/login', FORM_TYPE], ['/oidc/token', FORM_TYPE]] as const) {
      const answer = await rawRequest(idp.port, path, { ...headers, 'content-length': '500' }, '{"email":"cut');
      expect({ path, statusLine: answer.split('\r\n')[0] }).toEqual({ path, statusLine: 'HTTP/1.1 400 Bad Request' });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(idp.errorLogs()).toEqual([]);
  });
});
