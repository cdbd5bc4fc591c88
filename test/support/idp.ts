import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { createIdp, type Idp } from '../../lib/app.js';
import { loadConfig, type Config, type FileConfig } from '../../lib/config.js';
import { MemoryStore } from '../../adapters/memory-store.js';
import { RedisStore } from '../../adapters/redis-store.js';
import type { Store } from '../../adapters/index.js';
import { createLogger } from '../../lib/logger.js';
import { createListener } from '../../lib/listen.js';
import { freePort } from './global-setup.js';

export type StoreKind = 'memory' | 'redis';

export const ADMIN = { clientId: 'test-admin-client', clientSecret: 'test-admin-secret-0123456789abcdef0123456789' };

/** A key prefix of its own for each test IdP: tests share one Redis and never flush it. */
export const uniquePrefix = () => `t${randomBytes(6).toString('hex')}:`;

export function newStore(kind: StoreKind, prefix = uniquePrefix()): Store {
  if (kind === 'memory') return new MemoryStore();
  return new RedisStore({ url: process.env.REDIS_URL!, keyPrefix: prefix });
}

export interface TestIdp {
  idp: Idp;
  config: Config;
  url: string;
  issuer: string;
  server: Server;
  adminToken(): Promise<string>;
  close(): Promise<void>;
}

export interface StartOptions {
  store?: StoreKind;
  /** share a Redis key prefix (several instances of one deployment) */
  prefix?: string;
  overrides?: Partial<FileConfig>;
  port?: number;
  /** also serve HTTPS (TLS_CERT/TLS_KEY) on a second port, which becomes the public URL */
  tls?: { certFile: string; keyFile: string };
  /** more environment, e.g. MTLS_CERT_HEADER */
  env?: Record<string, string>;
  /** wraps the store the IdP uses, e.g. to hold calls and force a race (held-store.ts) */
  wrapStore?: (store: Store) => Store;
}

/** A real IdP on a real listening port, as `npm start` would run it. */
export async function startIdp(options: StartOptions = {}): Promise<TestIdp> {
  const port = options.port ?? await freePort();
  const url = `http://127.0.0.1:${port}`;
  const tlsPort = options.tls ? await freePort() : undefined;
  const prefix = options.prefix ?? uniquePrefix();
  const config = loadConfig({
    PORT: String(port),
    PUBLIC_URL: tlsPort ? `https://127.0.0.1:${tlsPort}` : url,
    IDP_ADMIN_CLIENT_ID: ADMIN.clientId,
    IDP_ADMIN_CLIENT_SECRET: ADMIN.clientSecret,
    ...(options.tls ? { TLS_CERT: options.tls.certFile, TLS_KEY: options.tls.keyFile } : {}),
    ...options.env,
  }, { redisKeyPrefix: prefix, logLevel: 'silent', ...options.overrides });
  const plainStore = newStore(options.store ?? 'redis', prefix);
  const store = options.wrapStore ? options.wrapStore(plainStore) : plainStore;
  const idp = await createIdp(config, { store, logger: createLogger('silent') });
  const listen = (listener: Server, on: number) => new Promise<Server>((resolve) => {
    listener.listen(on, '127.0.0.1', () => resolve(listener));
  });
  // the plain port always serves (management API helpers use it); TLS adds the public https one
  const server = await listen(createListener(idp.app, { ...config, tls: undefined }), port);
  const tlsServer = tlsPort ? await listen(createListener(idp.app, config), tlsPort) : undefined;
  let token: string | undefined;
  return {
    idp, config, url, issuer: config.issuer, server,
    async adminToken() {
      token ??= await clientCredentialsToken(`${url}/oidc`, ADMIN.clientId, ADMIN.clientSecret);
      return token;
    },
    async close() {
      for (const listener of [server, tlsServer]) {
        if (!listener) continue;
        listener.closeAllConnections();
        await new Promise((resolve) => listener.close(resolve));
      }
      await idp.close();
    },
  };
}

/** What the HTTP helpers need of an IdP: one started in process (startIdp) or a server process. */
export type IdpEndpoint = Pick<TestIdp, 'url' | 'issuer' | 'adminToken'>;

export async function clientCredentialsToken(issuer: string, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  const body = await response.json() as { access_token?: string };
  if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** JSON call to the management API with the admin token. */
export async function api(t: IdpEndpoint, method: string, path: string, body?: unknown, token?: string) {
  const response = await fetch(`${t.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token ?? await t.adminToken()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
  return { status: response.status, body: json, headers: response.headers };
}

export interface Fixture {
  appId: string;
  client: { client_id: string; client_secret: string };
  user: { user_id: string; email: string; password: string };
  redirectUri: string;
}

/** An application, a first-party client and a user, created through the management API. */
export async function createFixture(t: IdpEndpoint, clientOverrides: Record<string, unknown> = {}): Promise<Fixture> {
  const redirectUri = 'http://localhost:8080/callback';
  const app = await api(t, 'POST', '/v1/applications', { name: 'Test bank' });
  const client = await api(t, 'POST', `/v1/applications/${app.body.app_id}/clients`, {
    name: 'Test web', redirect_uris: [redirectUri], post_logout_redirect_uris: ['http://localhost:8080/bye'], ...clientOverrides,
  });
  if (client.status !== 201) throw new Error(`client: ${JSON.stringify(client.body)}`);
  const email = `user-${randomBytes(4).toString('hex')}@example.com`;
  const password = 'correct horse battery';
  const user = await api(t, 'POST', '/v1/users', { email, email_verified: true, password, given_name: 'Ada', family_name: 'Lovelace' });
  return { appId: app.body.app_id, client: client.body, user: { user_id: user.body.user_id, email, password }, redirectUri };
}
