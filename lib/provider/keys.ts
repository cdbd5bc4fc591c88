import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Store } from '../../adapters/index.js';

const SIGNING_KEYS = 'keys:signing';
const COOKIE_KEYS = 'keys:cookies';

async function signingKey(alg: 'RS256' | 'ES256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(jwk) };
}

/**
 * Creates a value once for the whole deployment: the first instance to start writes it
 * (SET NX), every other instance and every restart reads the same one.
 */
async function createOnce<T>(store: Store, key: string, make: () => Promise<T>): Promise<T> {
  const existing = await store.getJSON<T>(key);
  if (existing) return existing;
  await store.createJSON(key, await make());
  return (await store.getJSON<T>(key))!;
}

/** The OP's signing keys (RS256 first: the default ID-token algorithm; ES256 offered). */
export async function loadSigningKeys(store: Store): Promise<{ keys: JWK[] }> {
  return createOnce(store, SIGNING_KEYS, async () => ({ keys: [await signingKey('RS256'), await signingKey('ES256')] }));
}

/** Cookie signing keys, unless the operator configured their own. */
export async function loadCookieKeys(store: Store, configured?: string[]): Promise<string[]> {
  if (configured?.length) return configured;
  return createOnce(store, COOKIE_KEYS, async () => [randomBytes(32).toString('base64url')]);
}
