/** What every benchmark target serves: one confidential first-party client and one user. */
export const BENCH_REDIRECT_URI = 'http://localhost:8080/callback';
export const BENCH_SCOPES = 'openid email profile offline_access';
export const BENCH_USER = { email: 'bench@example.com', password: 'bench passphrase 0123' };
/** Seconds a rotated refresh token of the bench client may be presented again (lib/provider/refresh-grace.ts). */
export const BENCH_REUSE_INTERVAL = 10;
/** The baseline's static client (our IdP generates its client ids). */
export const BENCH_CLIENT = { clientId: 'bench-client', clientSecret: 'bench-client-secret-0123456789abcdef0123' };
/** The management client our IdP creates at start (IDP_ADMIN_CLIENT_ID / _SECRET). */
export const BENCH_ADMIN = { clientId: 'bench-admin-client', clientSecret: 'bench-admin-secret-0123456789abcdef0123456789' };

export interface Credentials {
  clientId: string;
  clientSecret: string;
}

async function post(url: string, body: Record<string, string> | object, token?: string): Promise<any> {
  const form = token === undefined;
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: form ? new URLSearchParams(body as Record<string, string>) : JSON.stringify(body),
  });
  const json = await response.json();
  if (response.status >= 300) throw new Error(`POST ${url}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

export function clientCredentialsToken(baseUrl: string, client: Credentials): Promise<{ access_token: string }> {
  return post(`${baseUrl}/oidc/token`, { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret });
}

/** Our IdP: the client and the user, created through the management API like an operator would. */
export async function createIdpFixture(baseUrl: string): Promise<Credentials> {
  const { access_token: token } = await clientCredentialsToken(baseUrl, BENCH_ADMIN);
  const app = await post(`${baseUrl}/v1/applications`, { name: 'Bench' }, token);
  const client = await post(`${baseUrl}/v1/applications/${app.app_id}/clients`, {
    name: 'Bench web',
    redirect_uris: [BENCH_REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes: BENCH_SCOPES.split(' '),
    // the rotation grace on, as an RP with parallel workers would have it: its check is on the measured path
    refresh_token_reuse_interval: BENCH_REUSE_INTERVAL,
  }, token);
  await post(`${baseUrl}/v1/users`, { ...BENCH_USER, email_verified: true, given_name: 'Bench', family_name: 'User' }, token);
  return { clientId: client.client_id, clientSecret: client.client_secret };
}
