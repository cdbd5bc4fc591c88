import http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { freePort } from '../support/global-setup.js';
import { api, type Fixture, type TestIdp } from '../support/idp.js';

export { startMailbox } from '../support/mailbox.js';
export { userToken } from '../support/sign-in.js';

export const insecure = { execute: [oidc.allowInsecureRequests] };
export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba';


/** A local SMS gateway (the IdP's SMS webhook): keeps each message; numbers in `refuse` get a 400. */
export async function startSmsGateway(refuse: Set<string>) {
  const received: Array<{ to: string; text: string; signature?: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    req.on('end', () => {
      const message = JSON.parse(body) as { to: string; text: string };
      received.push({ ...message, signature: req.headers['x-idp-signature'] as string | undefined });
      res.writeHead(refuse.has(message.to) ? 400 : 200).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}/sms`,
    received,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export const linkIn = (text: string): URL => new URL(/https?:\/\/\S+/.exec(text)![0]);

export interface TestUser { user_id: string; email: string; phone_number: string; password: string }

/** A user with a verified email and phone number (overridable) who can sign in with a password. */
export async function newUser(t: TestIdp, fields: Record<string, unknown> = {}): Promise<TestUser> {
  const email = `ciba-${randomBytes(4).toString('hex')}@example.com`;
  const phone = `+1555${String(randomBytes(3).readUIntBE(0, 3) % 10_000_000).padStart(7, '0')}`;
  const password = 'correct horse battery';
  const created = await api(t, 'POST', '/v1/users', {
    email, email_verified: true, phone_number: phone, phone_number_verified: true, password, ...fields,
  });
  if (created.status !== 201) throw new Error(`user: ${JSON.stringify(created.body)}`);
  return { user_id: created.body.user_id, email, phone_number: phone, password };
}

/** POST /auth/backchannel/complete (or under /cis) with a user's token. */
export async function complete(t: TestIdp, token: string, body: unknown, prefix = '') {
  const response = await fetch(`${t.url}${prefix}/auth/backchannel/complete`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

/** A confidential first-party client of the fixture's application with CIBA enabled as in seed 003 step 2. */
export async function cibaClient(t: TestIdp, fx: Fixture, loginUri: string) {
  const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, { name: 'Call center', redirect_uris: ['https://callcenter.example/cb'] });
  const enabled = await api(t, 'PUT', `/v1/applications/${fx.appId}/clients/${created.body.client_id}`, {
    ciba_authorization: { enabled: true, login_uri: loginUri },
  });
  if (enabled.status !== 200) throw new Error(`ciba client: ${JSON.stringify(enabled.body)}`);
  const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, created.body.client_secret, undefined, insecure);
  return { clientId: created.body.client_id as string, clientSecret: created.body.client_secret as string, rp };
}

/** The OAuth error a promise rejected with (openid-client's ResponseBodyError). */
export async function oauthErrorOf(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; error_description?: string; status?: number };
    return { error: e.error, error_description: e.error_description, status: e.status };
  }
  throw new Error('expected an OAuth error');
}
