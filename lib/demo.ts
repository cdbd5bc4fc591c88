import { randomBytes } from 'node:crypto';
import type { Idp } from './app.js';
import { MANAGEMENT_APP_ID } from './app.js';
import type { Config } from './config.js';

const SEEDED_KEY = 'demo:seeded';

export interface DemoData {
  managementClient?: { client_id: string; client_secret: string };
  app_id: string;
  firstParty: { client_id: string; client_secret: string; redirect_uri: string };
  thirdParty: { client_id: string; client_secret: string; redirect_uri: string };
  user: { user_id: string; email: string; password: string };
}

/**
 * Outside production, a first start creates data to try the IdP with. With Redis it is
 * created once per deployment (the plain secrets are shown only that time).
 */
export async function seedDemoData(idp: Idp, config: Config): Promise<DemoData | undefined> {
  const claimed = await idp.store.createJSON(SEEDED_KEY, { at: new Date().toISOString() });
  if (!claimed) return undefined;

  let managementClient: DemoData['managementClient'];
  if (!config.adminClient) {
    if (!(await idp.apps.find(MANAGEMENT_APP_ID))) await idp.apps.create({ name: 'IdP management' }, MANAGEMENT_APP_ID);
    const { record, secret } = await idp.clients.create(MANAGEMENT_APP_ID, {
      name: 'Demo management client', grant_types: ['client_credentials'], scopes: [], roles: ['admin'],
    });
    managementClient = { client_id: record.client_id, client_secret: secret! };
  }

  const app = await idp.apps.create({ name: 'Demo bank', description: 'created by npm start (demo data)' });
  const firstRedirect = 'http://localhost:8080/callback';
  const first = await idp.clients.create(app.app_id, {
    name: 'Demo bank web', redirect_uris: [firstRedirect], post_logout_redirect_uris: ['http://localhost:8080/'],
  });
  const thirdRedirect = 'http://localhost:8081/callback';
  const third = await idp.clients.create(app.app_id, {
    name: 'Budget app (third party)', third_party: true, redirect_uris: [thirdRedirect],
    // the example consent page: npm run example:consent-page
    consent_uris: ['http://localhost:4000/consent'], scopes: ['openid', 'email', 'offline_access'],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const password = randomBytes(9).toString('base64url');
  const user = await idp.users.create({
    email: 'demo@example.com', email_verified: true, phone_number: '+15555550100', phone_number_verified: true,
    username: 'demo', given_name: 'Dana', family_name: 'Demo', password,
  });
  return {
    managementClient,
    app_id: app.app_id,
    firstParty: { client_id: first.record.client_id, client_secret: first.secret!, redirect_uri: firstRedirect },
    thirdParty: { client_id: third.record.client_id, client_secret: third.secret!, redirect_uri: thirdRedirect },
    user: { user_id: user.user_id, email: user.email!, password },
  };
}

export function describeDemoData(demo: DemoData, issuer: string): string {
  const lines = [
    '',
    '=== Demo data (development only; secrets are shown this once) ===',
    `Issuer:               ${issuer}`,
    `Discovery:            ${issuer}/.well-known/openid-configuration`,
  ];
  if (demo.managementClient) {
    lines.push(`Management client:    ${demo.managementClient.client_id} / ${demo.managementClient.client_secret}`,
      '                      (client_credentials token at /oidc/token, then Bearer on /v1/...)');
  }
  lines.push(
    `Application:          ${demo.app_id}`,
    `First-party client:   ${demo.firstParty.client_id} / ${demo.firstParty.client_secret}  redirect ${demo.firstParty.redirect_uri}`,
    `Third-party client:   ${demo.thirdParty.client_id} / ${demo.thirdParty.client_secret}  redirect ${demo.thirdParty.redirect_uri}`,
    `Demo user:            ${demo.user.email} / ${demo.user.password}  (user_id ${demo.user.user_id})`,
    'Third-party consent:  run `npm run example:consent-page` (Consent URI http://localhost:4000/consent), then open',
    `                      ${issuer}/auth?client_id=${demo.thirdParty.client_id}&response_type=code&scope=openid%20email`
      + `&redirect_uri=${encodeURIComponent(demo.thirdParty.redirect_uri)}&prompt=consent`,
    '',
  );
  return lines.join('\n');
}
