import { X509Certificate } from 'node:crypto';

/**
 * Checks of the key material a client uploads (seed 001 "Authentication method", "ID token
 * encryption"). Each returns a problem to report, or undefined when the input is usable.
 */

/** JWK members that only a private or symmetric key has. */
const SECRET_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ASYMMETRIC = new Set(['RSA', 'EC', 'OKP']);

export interface Jwk {
  kty?: unknown;
  use?: unknown;
  alg?: unknown;
  x5c?: unknown;
  [member: string]: unknown;
}
export interface Jwks { keys: Jwk[] }

export function jwksProblem(value: unknown): string | undefined {
  const keys = (value as { keys?: unknown })?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys) || keys.length === 0) {
    return 'must be a JWKS: { "keys": [ ... ] } with at least one key';
  }
  if (keys.length > 10) return 'must hold at most 10 keys';
  for (const [i, key] of (keys as Jwk[]).entries()) {
    if (typeof key !== 'object' || key === null || !ASYMMETRIC.has(key.kty as string)) return `keys[${i}]: kty must be RSA, EC or OKP`;
    if (SECRET_MEMBERS.some((member) => member in key)) return `keys[${i}]: must be a public key (no private or symmetric members)`;
    if (key.use !== undefined && key.use !== 'sig' && key.use !== 'enc') return `keys[${i}]: use must be sig or enc`;
  }
  return undefined;
}

/** The key an ID token can be encrypted to: RSA, not reserved for signatures. */
export function hasRsaEncryptionKey(jwks: Jwks): boolean {
  return jwks.keys.some((key) => key.kty === 'RSA' && key.use !== 'sig');
}

/** Self-signed mTLS: the certificate itself is registered, as `x5c` of a key. */
export function hasCertificateKey(jwks: Jwks): boolean {
  return jwks.keys.some((key) => Array.isArray(key.x5c) && typeof key.x5c[0] === 'string');
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM chain; throws when one cannot be parsed. */
export function parsePemChain(pem: string): X509Certificate[] {
  return (pem.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block));
}

export function pemChainProblem(pem: string): string | undefined {
  try {
    const chain = parsePemChain(pem);
    if (chain.length === 0) return 'must hold at least one PEM certificate (-----BEGIN CERTIFICATE-----)';
    if (chain.length > 10) return 'must hold at most 10 certificates';
    if (chain.some((cert) => !cert.ca)) return 'must hold CA certificates (basicConstraints CA:TRUE)';
    return undefined;
  } catch {
    return 'holds a certificate that cannot be parsed';
  }
}

/** Subject DN attributes the certificate must carry, e.g. `CN=budget-app,O=Budget Ltd`. */
const DN_ATTRIBUTES = new Set(['CN', 'O', 'OU', 'C', 'L', 'ST', 'emailAddress', 'serialNumber', 'DC', 'UID']);

export function parseSubjectDn(dn: string): Map<string, string> {
  return new Map(dn.split(/(?<!\\),/).map((part) => {
    const eq = part.indexOf('=');
    return [part.slice(0, eq).trim(), part.slice(eq + 1).trim().replace(/\\,/g, ',')] as [string, string];
  }));
}

export function subjectDnProblem(dn: string): string | undefined {
  const parts = dn.split(/(?<!\\),/);
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 1 || !part.slice(eq + 1).trim()) return `"${part.trim()}" is not ATTRIBUTE=value`;
    const name = part.slice(0, eq).trim();
    if (!DN_ATTRIBUTES.has(name)) return `unsupported attribute ${name} (use ${[...DN_ATTRIBUTES].join(', ')})`;
  }
  return undefined;
}

/** Node's X509Certificate.subject: one `NAME=value` per line. */
export function certificateSubject(cert: X509Certificate): Map<string, string> {
  return new Map(cert.subject.split('\n').map((line) => {
    const eq = line.indexOf('=');
    return [line.slice(0, eq), line.slice(eq + 1)] as [string, string];
  }));
}
