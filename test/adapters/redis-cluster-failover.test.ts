import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { insecure, introspect } from '../support/consent.js';
import { api, clientCredentialsToken, createFixture, uniquePrefix, type Fixture } from '../support/idp.js';
import { startIdpProcess, type IdpProcess } from '../support/idp-process.js';
import { redisCommand, startOwnCluster, until, type OwnCluster, type OwnRedis } from '../support/redis-server.js';

/** Not a timing measurement: a ceiling that tells "answers" from "hangs". */
const NO_HANG_MS = 5000;

/**
 * The IdP process on a Redis Cluster of three primaries with a replica each. The primary that
 * serves the IdP's hash-tag slot fails over twice: by hand (CLUSTER FAILOVER on its replica) and
 * by crashing (SIGKILL). What was written before (the user, the client, a refresh token, an
 * access token) is still usable afterwards, and every request made meanwhile is answered, with a
 * success or a 503 in JSON, never a 500.
 */
let cluster: OwnCluster;
let idp: IdpProcess;
let fx: Fixture;
let rp: oidc.Configuration;
/** the newest refresh token (they rotate on every use) */
let refreshToken: string;
/** an access token issued before any failover */
let accessToken: string;
// a hash tag of its own: every key of this IdP in one slot
const prefix = `{${uniquePrefix().slice(0, -1)}}:`;

beforeAll(async () => {
  // a node timeout of 2 s, as in the other cluster tests: a crash is noticed within seconds, with
  // margin for a busy machine (a node that answers late must not be failed over by mistake)
  cluster = await startOwnCluster({ replicas: 1, nodeTimeoutMs: 2000 });
  idp = await startIdpProcess({ redisEnv: { REDIS_CLUSTER_NODES: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(',') }, prefix });
  fx = await createFixture(idp);
  rp = await oidc.discovery(new URL(idp.issuer), fx.client.client_id, fx.client.client_secret, undefined, insecure);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: fx.redirectUri, scope: 'openid offline_access', prompt: 'consent', state: 'st',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const callback = await new Browser().login(url.href, idp.url, fx.user.email, fx.user.password);
  const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: 'st' });
  refreshToken = tokens.refresh_token!;
  accessToken = await clientCredentialsToken(idp.issuer, fx.client.client_id, fx.client.client_secret);
});
afterAll(async () => {
  await idp?.kill('SIGTERM');
  await cluster?.destroy();
});

/**
 * The primary that serves the IdP's slot and its replica, as a node that is up sees them. Right
 * after a failover (or the cluster's start) a node may not list the replica yet: wait until one does.
 */
async function shard(): Promise<{ primary: OwnRedis; replica: OwnRedis }> {
  const byPort = (port: number) => cluster.servers.find((server) => server.port === port)!;
  let found: { primary: OwnRedis; replica: OwnRedis } | undefined;
  await until('a node that lists the slot\'s primary and replica', async () => {
    for (const node of cluster.servers) {
      const answer = await Promise.all([
        redisCommand(node.port, 'CLUSTER', 'KEYSLOT', `${prefix}x`),
        redisCommand(node.port, 'CLUSTER', 'SLOTS'),
      ]).catch(() => undefined);
      if (!answer) continue;
      const [slot, ranges] = answer as [number, Array<[number, number, ...Array<[string, number]>]>];
      const [, , primary, replica] = ranges.find(([start, end]) => start <= slot && slot <= end) ?? [];
      if (primary && replica) {
        found = { primary: byPort(primary[1]), replica: byPort(replica[1]) };
        return true;
      }
    }
    return false;
  });
  return found!;
}

const role = async (server: OwnRedis) => /role:(\w+)/.exec(String(await redisCommand(server.port, 'INFO', 'replication')))![1];

interface Answer { what: string; status: number; json: unknown; at: number; ms: number }

/**
 * Four clients of the IdP, each sending its request again as soon as it is answered, until
 * stopped: reads and writes of the kinds a failover may catch (token endpoint, introspection,
 * management API). A request the IdP does not answer at all (a crash) fails the test.
 */
function traffic(): { flowing(): Promise<void>; stop(): Promise<Answer[]> } {
  const answers: Answer[] = [];
  let stopped = false;
  const form = (body: Record<string, string>) => ({
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body),
  });
  const requests: Record<string, () => Promise<Response>> = {
    token: () => fetch(`${idp.issuer}/token`, form({ grant_type: 'client_credentials', client_id: fx.client.client_id, client_secret: fx.client.client_secret })),
    introspection: () => fetch(`${idp.issuer}/token/introspection`, form({ token: accessToken, client_id: fx.client.client_id, client_secret: fx.client.client_secret })),
    readUser: async () => fetch(`${idp.url}/v1/users/${fx.user.user_id}`, { headers: { authorization: `Bearer ${await idp.adminToken()}` } }),
    createApplication: async () => fetch(`${idp.url}/v1/applications`, {
      method: 'POST', headers: { authorization: `Bearer ${await idp.adminToken()}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'During failover' }),
    }),
  };
  const loops = Object.entries(requests).map(async ([what, request]) => {
    while (!stopped) {
      const started = performance.now();
      const response = await request();
      const text = await response.text();
      let json: unknown = text;
      try { json = JSON.parse(text); } catch { /* kept as text: the assertion shows it */ }
      answers.push({ what, status: response.status, json, at: started, ms: performance.now() - started });
    }
  });
  return {
    async flowing() {
      await until('answers to the traffic', async () => answers.length > 0);
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return answers;
    },
  };
}

/** Every answer a success or a 503 in JSON, and in time (whether 503s come depends on the failover). */
function expectAnsweredWithoutServerErrors(answers: Answer[]): void {
  expect(answers.length).toBeGreaterThan(0);
  for (const { what, status, json, ms } of answers) {
    expect({ what, status: [200, 201, 503].includes(status) ? 'success or 503' : status, answered: ms < NO_HANG_MS })
      .toEqual({ what, status: 'success or 503', answered: true });
    if (status !== 503) continue;
    if (what === 'token' || what === 'introspection') expect(json).toMatchObject({ error: 'temporarily_unavailable' });
    else expect(json).toEqual({ message: 'Service temporarily unavailable', error_code: 503 });
  }
}

/** What was written before the failovers, used through the IdP. */
async function expectEverythingStillUsable(): Promise<void> {
  expect((await api(idp, 'GET', `/v1/users/${fx.user.user_id}`)).body).toMatchObject({ user_id: fx.user.user_id, email: fx.user.email });
  // the client still authenticates, and its token from before is still active
  expect(await clientCredentialsToken(idp.issuer, fx.client.client_id, fx.client.client_secret)).toBeTruthy();
  expect(await introspect(idp, fx, accessToken)).toMatchObject({ active: true, client_id: fx.client.client_id });
  // the refresh token still refreshes (and rotates)
  const refreshed = await oidc.refreshTokenGrant(rp, refreshToken);
  expect(refreshed.claims()!.sub).toBe(fx.user.user_id);
  refreshToken = refreshed.refresh_token!;
}

/** The answers to requests that were under way at some point between `from` and `to`. */
const overlapping = (answers: Answer[], from: number, to: number) => answers.filter(({ at, ms }) => at < to && at + ms > from);

/** Until a write through the IdP succeeds: the IdP has found the promoted replica. */
const writesAgain = () => until('a write through the IdP', async () => (await api(idp, 'POST', '/v1/applications', { name: 'After failover' })).status === 201);

describe('Redis Cluster failover of the IdP\'s slot', () => {
  it('a manual failover (CLUSTER FAILOVER on the replica): nothing lost, no 500 meanwhile', async () => {
    const { primary, replica } = await shard();
    const load = traffic();
    await load.flowing();
    // the replica catches up with its primary and takes over; the primary becomes its replica
    const asked = performance.now();
    await redisCommand(replica.port, 'CLUSTER', 'FAILOVER');
    await until('the replica promoted', async () => (await role(replica)) === 'master' && (await role(primary)) === 'slave');
    const promoted = performance.now();
    await writesAgain();
    const answers = await load.stop();
    expectAnsweredWithoutServerErrors(answers);
    // the IdP was asked during the failover, not only before and after
    expect(overlapping(answers, asked, promoted).length).toBeGreaterThan(0);
    await until('the cluster naming the new primary', async () => (await shard()).primary === replica);
    await expectEverythingStillUsable();
    expect(idp.alive()).toBe(true);
  });

  it('a crash of the primary (SIGKILL): its replica takes over, nothing lost, no 500 meanwhile', async () => {
    const { primary, replica } = await shard();
    // replication is asynchronous: wait until the replica has every write, as a failover of a
    // healthy primary does (what a crash catches unreplicated is lost on any Redis)
    const offset = async (server: OwnRedis, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(String(await redisCommand(server.port, 'INFO', 'replication')))![1]);
    await until('the replica in sync', async () => (await offset(replica, 'slave_repl_offset')) >= (await offset(primary, 'master_repl_offset')));
    const load = traffic();
    await load.flowing();
    await primary.stop('SIGKILL');
    const crashed = performance.now();
    await until('the replica promoted', async () => (await role(replica)) === 'master');
    const promoted = performance.now();
    await writesAgain();
    const answers = await load.stop();
    expectAnsweredWithoutServerErrors(answers);
    // the IdP was asked while its slot had no primary, not only before and after
    expect(overlapping(answers, crashed, promoted).length).toBeGreaterThan(0);
    await expectEverythingStillUsable();
    expect(idp.alive()).toBe(true);
  });
});
