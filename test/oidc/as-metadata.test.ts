import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import { startIdp, type TestIdp } from '../support/idp.js';

/** RFC 8414 metadata of the issuer `/oidc`, at `/.well-known/oauth-authorization-server/oidc`, as an OAuth 2.0 client looks for it. */
describe('authorization server metadata (RFC 8414)', () => {
  let t: TestIdp;

  beforeAll(async () => { t = await startIdp({ store: 'redis' }); });
  afterAll(() => t.close());

  it('is the discovery document, found and validated by oauth4webapi (algorithm oauth2)', async () => {
    const issuer = new URL(t.issuer);
    const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true });
    expect(new URL(response.url).pathname).toBe('/.well-known/oauth-authorization-server/oidc');
    const metadata = await oauth.processDiscoveryResponse(issuer, response);
    const openid = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata).toEqual(openid);
    expect(metadata.token_endpoint).toBe(`${t.issuer}/token`);
  });

  it('answers other methods and neighbouring paths as before (no document)', async () => {
    const post = await fetch(`${t.url}/.well-known/oauth-authorization-server/oidc`, { method: 'POST' });
    expect(post.status).toBe(404);
    const other = await fetch(`${t.url}/.well-known/oauth-authorization-server/other`);
    expect(other.status).toBe(404);
  });
});
