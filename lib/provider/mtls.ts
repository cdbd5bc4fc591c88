import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { certificateSubject, parsePemChain, parseSubjectDn } from '../clients/key-material.js';
import { ANY_SUBJECT_DN, type ClientExtras } from './client-adapter.js';

/**
 * The client certificate of a request (RFC 8705), for oidc-provider's `features.mTLS` hooks
 * (which must answer synchronously). Two sources:
 * - the TLS connection, when the IdP terminates TLS itself (TLS_CERT/TLS_KEY; the server asks
 *   for a certificate and leaves its verification to these hooks);
 * - a header set by a TLS-terminating proxy (MTLS_CERT_HEADER, URL-encoded PEM as nginx's
 *   `$ssl_client_escaped_cert`), only when configured: the proxy must always overwrite it.
 */
export function mtlsHooks(certificateHeader: string | undefined) {
  const parsed = new WeakMap<object, X509Certificate | undefined>();
  const chains = new Map<string, X509Certificate[]>();

  function getCertificate(ctx: KoaContextWithOIDC): X509Certificate | undefined {
    if (parsed.has(ctx)) return parsed.get(ctx);
    let cert: X509Certificate | undefined;
    const header = certificateHeader ? ctx.get(certificateHeader) : '';
    try {
      if (header) cert = new X509Certificate(decodeURIComponent(header));
      else if ((ctx.req.socket as TLSSocket).encrypted) cert = (ctx.req.socket as TLSSocket).getPeerX509Certificate();
    } catch {
      cert = undefined; // unparseable: as if none was presented
    }
    parsed.set(ctx, cert);
    return cert;
  }

  function trustedChain(pem: string): X509Certificate[] {
    let chain = chains.get(pem);
    if (!chain) {
      if (chains.size > 1000) chains.clear();
      chain = parsePemChain(pem);
      chains.set(pem, chain);
    }
    return chain;
  }

  /** tls_client_auth: the certificate was issued by (one of) the CA certificates the client registered, and is valid now. */
  function certificateAuthorized(ctx: KoaContextWithOIDC): boolean {
    const cert = getCertificate(ctx);
    const pem = (ctx.oidc.client as ClientExtras | undefined)?.tls_client_auth_ca;
    if (!cert || !pem) return false;
    const now = Date.now();
    const valid = (c: X509Certificate) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
    return valid(cert) && trustedChain(pem).some((ca) => valid(ca) && cert.checkIssued(ca) && cert.verify(ca.publicKey));
  }

  /** Every registered subject DN attribute (CN, O, ...) must be in the certificate's subject. */
  function certificateSubjectMatches(ctx: KoaContextWithOIDC, property: string, expected: string): boolean {
    const cert = getCertificate(ctx);
    if (!cert || property !== 'tls_client_auth_subject_dn') return false;
    if (expected === ANY_SUBJECT_DN) return true;
    const subject = certificateSubject(cert);
    return [...parseSubjectDn(expected)].every(([name, value]) => subject.get(name) === value);
  }

  return { getCertificate, certificateAuthorized, certificateSubjectMatches };
}
