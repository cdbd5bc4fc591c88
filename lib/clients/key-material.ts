import { createHash, X509Certificate } from 'node:crypto';

/**
 * Checks of the key material a client uploads (seed 001 "Authentication method", "ID token
 * encryption"). Each returns a problem to report, or undefined when the input is usable.
 */

/** JWK members that only a private or symmetric key has. */
const SECRET_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ASYMMETRIC = new Set(['RSA', 'EC', 'OKP']);
/** base64url characters of a 2048-bit modulus */
const MIN_RSA_MODULUS_CHARS = Math.ceil(2048 / 6);

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
    if (key.kty === 'RSA' && (typeof key.n !== 'string' || key.n.length < MIN_RSA_MODULUS_CHARS)) return `keys[${i}]: RSA keys must be at least 2048 bits`;
  }
  return undefined;
}

/** The keys of a JWKS, or none when it is not one (these checks also run on invalid input). */
const keysOf = (jwks: Jwks): Jwk[] => (Array.isArray(jwks?.keys) ? jwks.keys.filter((key) => typeof key === 'object' && key !== null) : []);

/** A key an ID token can be encrypted to with `alg`: RSA, not reserved for signatures, not bound to another alg. */
export function hasRsaEncryptionKey(jwks: Jwks, alg: string): boolean {
  return keysOf(jwks).some((key) => key.kty === 'RSA' && key.use !== 'sig' && (key.alg === undefined || key.alg === alg));
}

/** A key client assertions can be verified with: not reserved for encryption. */
export function hasSigningKey(jwks: Jwks): boolean {
  return keysOf(jwks).some((key) => key.use !== 'enc');
}

/** Self-signed mTLS: the certificate itself is registered, as `x5c` of a key. */
export function hasCertificateKey(jwks: Jwks): boolean {
  return keysOf(jwks).some((key) => Array.isArray(key.x5c) && typeof key.x5c[0] === 'string');
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

/** RFC 4514 escapes (`\,` `\+` `\"` ...) resolved, so both sides compare as plain values. */
const unescapeDnValue = (value: string) => value.replace(/\\(.)/g, '$1');

export function parseSubjectDn(dn: string): Map<string, string> {
  return new Map(dn.split(/(?<!\\),/).map((part) => {
    const eq = part.indexOf('=');
    return [part.slice(0, eq).trim(), unescapeDnValue(part.slice(eq + 1).trim())] as [string, string];
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
export function certificateSubject(cert: X509Certificate): Map<string, string[]> {
  const subject = new Map<string, string[]>();
  for (const line of cert.subject.split('\n')) {
    const eq = line.indexOf('=');
    const name = line.slice(0, eq);
    subject.set(name, [...(subject.get(name) ?? []), unescapeDnValue(line.slice(eq + 1))]);
  }
  return subject;
}

/** Identifies a registered CA chain: the same certificates give the same value, in any order. */
export function caChainId(pem: string): string {
  return createHash('sha256').update(parsePemChain(pem).map((cert) => cert.fingerprint256).sort().join(',')).digest('base64url');
}
