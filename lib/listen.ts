import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type Koa from 'koa';
import type { Config } from './config.js';

/**
 * The IdP's listener: plain HTTP (behind a TLS-terminating proxy), or HTTPS when TLS_CERT and
 * TLS_KEY are set. HTTPS asks every client for a certificate without requiring one: browsers
 * are not bothered, and mTLS clients are verified per client by the oidc-provider hooks
 * (lib/provider/mtls.ts) against what each client registered.
 */
export function createListener(app: Koa, config: Config): http.Server {
  if (!config.tls) return http.createServer(app.callback());
  return https.createServer({
    cert: readFileSync(config.tls.certFile),
    key: readFileSync(config.tls.keyFile),
    ca: config.tls.caFile ? readFileSync(config.tls.caFile) : undefined,
    requestCert: true,
    rejectUnauthorized: false,
  }, app.callback());
}
