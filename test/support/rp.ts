import http from 'node:http';
import * as oidc from 'openid-client';
import { freePort } from './global-setup.js';

/**
 * A minimal relying party built on openid-client: /login starts the authorization code
 * flow with PKCE, /callback exchanges the code and shows the verified ID token claims.
 */
export async function startRelyingParty(issuer: string, clientId: string, clientSecret: string, scope = 'openid email', extraParams: Record<string, string> = {}) {
  const port = await freePort();
  /** token responses received, newest last (for the test to check the access token) */
  const received: oidc.TokenEndpointResponse[] = [];
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  let config: oidc.Configuration | undefined;
  const pending = new Map<string, string>(); // state -> PKCE verifier

  const server = http.createServer(async (req, res) => {
    try {
      config ??= await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
      const url = new URL(req.url!, `http://127.0.0.1:${port}`);
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        pending.set(state, verifier);
        const target = oidc.buildAuthorizationUrl(config, {
          ...extraParams, redirect_uri: redirectUri, scope, state,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        });
        res.writeHead(302, { location: target.href }).end();
        return;
      }
      if (url.pathname === '/callback') {
        const state = url.searchParams.get('state') ?? '';
        if (url.searchParams.has('error')) {
          res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1 id="result">error: ${url.searchParams.get('error')}</h1>`
            + `<p id="description">${url.searchParams.get('error_description')}</p>`);
          return;
        }
        const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: pending.get(state), expectedState: state });
        pending.delete(state);
        received.push(tokens);
        const claims = tokens.claims()!;
        res.writeHead(200, { 'content-type': 'text/html' })
          .end(`<h1 id="result">signed in as ${claims.sub}</h1><pre id="claims">${JSON.stringify(claims)}</pre>`);
        return;
      }
      res.writeHead(404).end();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`rp error: ${(err as Error).message}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    redirectUri,
    received,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
