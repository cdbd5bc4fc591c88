import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { certificateSubject, parsePemChain, parseSubjectDn } from '../clients/key-material.js';
import { ANY_SUBJECT_DN } from './client-adapter.js';
import type { ClientExtras } from './client-extras.js';

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
/** intermediates a client may present between its certificate and its registered CA */
const MAX_INTERMEDIATES = 3;

interface Presented {
  leaf: X509Certificate;
  /** intermediates sent in the TLS handshake (none when a proxy forwards the leaf) */
  intermediates: X509Certificate[];
}

function tlsChain(socket: TLSSocket): Presented | undefined {
  const peer = socket.getPeerCertificate(true);
  if (!peer?.raw) return undefined;
  const intermediates: X509Certificate[] = [];
  for (let issuer = peer.issuerCertificate; issuer?.raw && issuer !== issuer.issuerCertificate
    && intermediates.length < MAX_INTERMEDIATES; issuer = issuer.issuerCertificate) {
    intermediates.push(new X509Certificate(issuer.raw));
  }
  return { leaf: new X509Certificate(peer.raw), intermediates };
}

const validNow = (cert: X509Certificate, now = Date.now()) => Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
const issuedBy = (cert: X509Certificate, issuer: X509Certificate) => issuer.ca && validNow(issuer)
  && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

/**
 * The client certificate of a request (RFC 8705), for oidc-provider's `features.mTLS` hooks
 * (which must answer synchronously). Two sources, never both (configuration refuses it):
 * - the TLS connection, when the IdP terminates TLS itself (TLS_CERT/TLS_KEY; the server asks
 *   for a certificate and leaves its verification to these hooks);
 * - a header set by a TLS-terminating proxy (MTLS_CERT_HEADER, URL-encoded PEM as nginx's
 *   `$ssl_client_escaped_cert`): the proxy must always overwrite it, and the IdP's port must be
 *   reachable through the proxy only.
 */
export function mtlsHooks(certificateHeader: string | undefined) {
  const presented = new WeakMap<object, Presented | undefined>();
  const chains = new Map<string, X509Certificate[]>();

  function presentedBy(ctx: KoaContextWithOIDC): Presented | undefined {
    if (presented.has(ctx)) return presented.get(ctx);
    let found: Presented | undefined;
    const socket = ctx.req.socket as TLSSocket;
    try {
      if (socket.encrypted) found = tlsChain(socket);
      else if (certificateHeader && ctx.get(certificateHeader)) {
        found = { leaf: new X509Certificate(decodeURIComponent(ctx.get(certificateHeader))), intermediates: [] };
      }
    } catch {
      found = undefined; // unparseable: as if none was presented
    }
    presented.set(ctx, found);
    return found;
  }

  function registeredChain(pem: string): X509Certificate[] {
    let chain = chains.get(pem);
    if (!chain) {
      if (chains.size > 1000) chains.clear();
      chain = parsePemChain(pem);
      chains.set(pem, chain);
    }
    return chain;
  }

  /**
   * tls_client_auth: a client certificate (not a CA, valid now, for client authentication if it
   * says what it is for) that chains, through at most the intermediates it presented, to one of
   * the CA certificates the client registered.
   */
  function certificateAuthorized(ctx: KoaContextWithOIDC): boolean {
    const found = presentedBy(ctx);
    const pem = (ctx.oidc.client as ClientExtras | undefined)?.tls_client_auth_ca;
    if (!found || !pem) return false;
    const { leaf, intermediates } = found;
    if (leaf.ca || !validNow(leaf) || (leaf.keyUsage && !leaf.keyUsage.includes(CLIENT_AUTH_EKU))) return false;
    const anchors = registeredChain(pem);
    let current = leaf;
    for (let hop = 0; hop <= intermediates.length; hop += 1) {
      if (anchors.some((anchor) => issuedBy(current, anchor))) return true;
      const next = intermediates.find((candidate) => issuedBy(current, candidate));
      if (!next) return false;
      current = next;
    }
    return false;
  }

  /** Every registered subject DN attribute (CN, O, ...) must be among the certificate's values for it. */
  function certificateSubjectMatches(ctx: KoaContextWithOIDC, property: string, expected: string): boolean {
    const found = presentedBy(ctx);
    if (!found || property !== 'tls_client_auth_subject_dn') return false;
    if (expected === ANY_SUBJECT_DN) return true;
    const subject = certificateSubject(found.leaf);
    return [...parseSubjectDn(expected)].every(([name, value]) => subject.get(name)?.includes(value) ?? false);
  }

  return { getCertificate: (ctx: KoaContextWithOIDC) => presentedBy(ctx)?.leaf, certificateAuthorized, certificateSubjectMatches };
}
