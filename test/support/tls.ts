import https from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

export interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  /** certificate, PEM */
  pem: string;
  /** private key, PKCS#8 PEM */
  keyPem: string;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function finish(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert, keys, pem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

const validity = (expired = false) => ({
  notBefore: new Date(Date.now() - (expired ? 3 : 1) * DAY_MS),
  notAfter: new Date(Date.now() + (expired ? -1 : 1) * DAY_MS),
});

const caExtensions = () => [
  new x509.BasicConstraintsExtension(true, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
];

/** A certificate authority, as an operator or a client's PKI would have one. */
export async function createCa(name: string): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`, keys, signingAlgorithm: ALG, ...validity(), extensions: caExtensions(),
  });
  return finish(cert, keys);
}

/** An intermediate CA issued by `ca`. */
export async function createIntermediate(ca: Issued, name: string): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${name}`, issuer: ca.cert.subject, publicKey: keys.publicKey, signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG, ...validity(), extensions: caExtensions(),
  });
  return finish(cert, keys);
}

/**
 * A leaf certificate issued by `ca`: a TLS server certificate for 127.0.0.1, or a client
 * certificate (optionally already expired), or both at once: a Redis node presents its one
 * certificate as a server and, on the cluster bus and to its primary, as a client.
 */
export async function issue(ca: Issued, subject: string, usage: 'server' | 'client' | 'server and client', options: { expired?: boolean } = {}): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    subject, issuer: ca.cert.subject, publicKey: keys.publicKey, signingKey: ca.keys.privateKey, signingAlgorithm: ALG, ...validity(options.expired),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([
        ...(usage === 'client' ? [] : [x509.ExtendedKeyUsage.serverAuth]),
        ...(usage === 'server' ? [] : [x509.ExtendedKeyUsage.clientAuth]),
      ]),
      ...(usage === 'client' ? [] : [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: 'localhost' }])]),
    ],
  });
  return finish(cert, keys);
}

/** A self-signed client certificate, registered as a JWK with `x5c` (self_signed_tls_client_auth). */
export async function selfSignedClient(subject: string): Promise<Issued & { jwk: Record<string, unknown> }> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ name: subject, keys, signingAlgorithm: ALG, ...validity() });
  const jwk = await webcrypto.subtle.exportKey('jwk', keys.publicKey);
  const { kty, crv, x, y } = jwk;
  return { ...(await finish(cert, keys)), jwk: { kty, crv, x, y, x5c: [Buffer.from(cert.rawData).toString('base64')] } };
}

/** Writes PEM files for the IdP's TLS_CERT / TLS_KEY. */
export function writeServerFiles(server: Issued): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'idp-tls-'));
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');
  writeFileSync(certFile, server.pem);
  writeFileSync(keyFile, server.keyPem);
  return { certFile, keyFile };
}

/**
 * fetch() over https that trusts `ca` and, when given, presents a client certificate: what an
 * mTLS client library does (openid-client takes it as customFetch).
 */
export function tlsFetch(ca: Issued, client?: Issued) {
  return (input: string | URL, init: { method?: string; headers?: HeadersInit; body?: unknown } = {}): Promise<Response> => new Promise((resolve, reject) => {
    const url = new URL(input);
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const request = https.request(url, {
      method: init.method ?? 'GET', headers, ca: ca.pem, cert: client?.pem, key: client?.keyPem, agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const body = [204, 304].includes(res.statusCode!) ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status: res.statusCode, headers: responseHeaders }));
      });
    });
    request.on('error', reject);
    const { body } = init;
    if (body instanceof Uint8Array || typeof body === 'string') request.write(body);
    else if (body !== undefined && body !== null) request.write(String(body)); // URLSearchParams
    request.end();
  });
}
