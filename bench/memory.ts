import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AdapterPayload } from 'oidc-provider';
import { Redis } from 'ioredis';
import { RedisStore } from '../adapters/redis-store.js';
import { BENCH_USER, createIdpFixture, type Credentials } from './fixture.js';
import { form, loadRequests } from './http-load.js';
import { startIdp, startRedis, usageOf, type Usage } from './processes.js';
import { machine } from './report.js';
import { loadRoundTrips, VirtualUser } from './virtual-users.js';
import { Tally } from './tally.js';

/**
 * `npm run bench:memory`: does the IdP's memory grow with what Redis holds? RSS of one IdP
 * process (Redis store) at rest after a small load, then 100k live sessions and 100k grants
 * are written straight into Redis through the store adapter, the same load runs again (now
 * on random ones of those sessions) and RSS is read again at rest.
 */
const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const BATCH = 2_000;
const LOAD_SECONDS = 5;
const SETTLE_MS = 2_000;
const USERS = 10;
const PREFIX = 'bench-memory:';
const COOKIE_KEY = randomBytes(32).toString('base64url');
const SESSION_COOKIE = '_session';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A signed cookie as koa's `cookies` (keygrip, HMAC-SHA1) writes it. */
function signedCookie(name: string, value: string): string[] {
  const signature = createHmac('sha1', COOKIE_KEY).update(`${name}=${value}`).digest('base64url');
  return [`${name}=${value}; path=/`, `${name}.sig=${signature}; path=/`];
}

function sessionIdOf(user: VirtualUser): string {
  const id = new RegExp(`(?:^|; )${SESSION_COOKIE}=([^;]+)`).exec(user.jar.header(`${user.baseUrl}/`))?.[1];
  if (!id) throw new Error('no session cookie after sign-in');
  return id;
}

async function redisMemory(url: string): Promise<number> {
  const redis = new Redis(url);
  try {
    return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  } finally {
    redis.disconnect();
  }
}

/** client_credentials tokens and SSO round trips at once; a user runs on the session `sessionFor` names, else on its own. */
async function smallLoad(url: string, client: Credentials, users: VirtualUser[], usage: () => Usage, sessionFor: () => string | undefined) {
  const tokens = new Tally();
  const roundTrips = new Tally();
  await Promise.all([
    tokens.slice(LOAD_SECONDS, usage, () => loadRequests([
      { path: '/oidc/token', ...form({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }) },
    ], { urls: [url], connections: USERS }, LOAD_SECONDS, tokens)),
    roundTrips.slice(LOAD_SECONDS, usage, () => loadRoundTrips(users, (user) => {
      const session = sessionFor();
      if (session) user.jar.storeSetCookies(signedCookie(SESSION_COOKIE, session));
      return user.sso();
    }, LOAD_SECONDS, roundTrips)),
  ]);
  return { tokens: tokens.measurement(), roundTrips: roundTrips.measurement() };
}

/** 100k copies of a real session and its grant (new ids), written in pipelined batches. */
async function fillRedis(store: RedisStore, session: AdapterPayload, grant: AdapterPayload, clientId: string): Promise<string[]> {
  const sessions = store.oidcAdapter('Session');
  const grants = store.oidcAdapter('Grant');
  const ttl = session.exp! - Math.floor(Date.now() / 1000);
  const ids: string[] = [];
  for (let done = 0; done < RECORDS; done += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, RECORDS - done) }, async () => {
      const id = randomBytes(32).toString('base64url');
      const grantId = randomBytes(32).toString('base64url');
      const authorizations = { [clientId]: { ...(session.authorizations as Record<string, object>)[clientId], grantId, sid: randomBytes(16).toString('base64url') } };
      await Promise.all([
        grants.upsert(grantId, { ...grant, jti: grantId }, ttl),
        sessions.upsert(id, { ...session, jti: id, uid: randomBytes(16).toString('base64url'), authorizations }, ttl),
      ]);
      ids.push(id);
    }));
  }
  return ids;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const store = new RedisStore({ url: redis.url, keyPrefix: PREFIX });
  const idp = await startIdp({ redisUrl: redis.url, prefix: PREFIX, cookieKeys: [COOKIE_KEY] });
  try {
    const startRss = idp.rss();
    const usage = usageOf([idp, redis]);
    const client = await createIdpFixture(idp.url);
    const users = Array.from({ length: USERS }, () => new VirtualUser(idp.url, client));
    await Promise.all(users.map((user) => user.signIn(BENCH_USER.email, BENCH_USER.password)));

    // twice: the first round only warms up (JIT, heap sizing)
    await smallLoad(idp.url, client, users, usage, () => undefined);
    const before = await smallLoad(idp.url, client, users, usage, () => undefined);
    await sleep(SETTLE_MS);
    const idleRss = idp.rss();
    const redisBefore = await redisMemory(redis.url);

    const template = await store.oidcAdapter('Session').find(sessionIdOf(users[0]!));
    const grantId = (template?.authorizations as Record<string, { grantId: string }> | undefined)?.[client.clientId]?.grantId;
    const grant = grantId && await store.oidcAdapter('Grant').find(grantId);
    if (!template || !grant) throw new Error('could not read the signed-in session and its grant');
    const filling = performance.now();
    const ids = await fillRedis(store, template, grant, client.clientId);
    const fillSeconds = (performance.now() - filling) / 1000;
    const redisAfter = await redisMemory(redis.url);

    const after = await smallLoad(idp.url, client, users, usage, () => ids[Math.floor(Math.random() * ids.length)]);
    await sleep(SETTLE_MS);
    const loadedRss = idp.rss();
    users.forEach((user) => user.close());

    const growth = loadedRss / idleRss - 1;
    const report = [
      `Machine: ${machine(redis.version)}. Run on ${new Date().toISOString().slice(0, 10)} with \`npm run bench:memory\`.`,
      '',
      '| | IdP RSS | Redis used_memory | client_credentials/s | SSO round trips/s | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      `| just started | ${mib(startRss)} | | | | |`,
      `| at rest after the small load (run twice) | ${mib(idleRss)} | ${mib(redisBefore)} | ${before.tokens.rate.toFixed(0)} | ${before.roundTrips.rate.toFixed(0)} | ${before.tokens.errors + before.roundTrips.errors} |`,
      `| at rest after ${RECORDS.toLocaleString('en-US')} sessions + grants and the same load on them | ${mib(loadedRss)} | ${mib(redisAfter)} | ${after.tokens.rate.toFixed(0)} | ${after.roundTrips.rate.toFixed(0)} | ${after.tokens.errors + after.roundTrips.errors} |`,
      '',
      `RSS change: ${(growth * 100).toFixed(1)}% (target: within 10%) — ${Math.abs(growth) <= 0.1 ? 'met' : '**missed**'}. `
        + `The records were written in ${fillSeconds.toFixed(1)} s through the Redis store adapter (batches of ${BATCH}); `
        + `the second load signs every SSO round trip in with a random one of them (${USERS} virtual users, plus ${USERS} connections of client_credentials).`,
    ].join('\n');
    const results = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(results, { recursive: true });
    writeFileSync(`${results}memory.md`, `${report}\n`);
    process.stdout.write(`${report}\n`);
  } finally {
    await idp.stop();
    await store.close();
    await redis.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`memory benchmark failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
