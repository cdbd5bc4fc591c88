import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisStore } from '../../adapters/redis-store.js';
import { COMMAND_TIMEOUT_MS } from '../../adapters/redis-connection.js';
import { isStoreUnavailable } from '../../lib/http/errors.js';
import { introspect } from '../support/consent.js';
import { clientCredentialsToken, createFixture } from '../support/idp.js';
import { startIdpProcess, type IdpProcess } from '../support/idp-process.js';
import { redisCommand, startOwnCluster, until, type OwnCluster, type OwnRedis } from '../support/redis-server.js';
import { storeContract } from './contract.js';

/**
 * A Redis Cluster of three primaries of the test's own: the store contract holds on it with
 * a hash-tagged key prefix, the IdP process runs on it from REDIS_CLUSTER_NODES, and the
 * store rides out nodes going away (last: those tests stop nodes).
 */
let cluster: OwnCluster;
let stores = 0;
const newPrefix = () => `{idp-test-${++stores}}:`;
const clusterStore = (keyPrefix = newPrefix()) => new RedisStore({ topology: cluster.topology, keyPrefix });
const clusterNodes = () => cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(',');

beforeAll(async () => { cluster = await startOwnCluster(); });
afterAll(() => cluster?.destroy());

describe('Redis Cluster store', () => {
  storeContract(() => clusterStore());

  it('keeps every key under its prefix on the one node that serves the hash tag', async () => {
    const prefix = newPrefix();
    const store = clusterStore(prefix);
    try {
      await store.putJSON('a', 1);
      await store.setAdd('b', 'x');
      // a record, its grant index and a lookup key, written by one script
      await store.oidcAdapter('DeviceCode').upsert('dc', { userCode: 'UC', grantId: 'g' }, 60);
      const keys = await Promise.all(cluster.servers.map((server) => redisCommand(server.port, 'KEYS', `${prefix}*`) as Promise<string[]>));
      expect(keys.map((held) => held.length).sort()).toEqual([0, 0, 5]);
    } finally {
      await store.close();
    }
  });

  it('refuses a key prefix without a hash tag', () => {
    for (const keyPrefix of ['idp:', '{}idp:', 'idp:{']) {
      expect(() => clusterStore(keyPrefix)).toThrow(/has no hash tag: on Redis Cluster use one such as "\{idp\}:"/);
    }
  });
});

describe('the IdP process on Redis Cluster', () => {
  let idp: IdpProcess | undefined;
  afterAll(() => idp?.kill('SIGTERM'));

  it('refuses to start with a key prefix without a hash tag', async () => {
    await expect(startIdpProcess({ redisEnv: { REDIS_CLUSTER_NODES: clusterNodes() }, prefix: 'idp:' }))
      .rejects.toThrow(/exited \(2\): invalid configuration: IDP_CONFIG.redisKeyPrefix must contain a hash tag such as "\{idp\}:"/);
  });

  it('issues and introspects a client_credentials token', async () => {
    idp = await startIdpProcess({ redisEnv: { REDIS_CLUSTER_NODES: clusterNodes() }, prefix: newPrefix() });
    const fx = await createFixture(idp);
    const token = await clientCredentialsToken(idp.issuer, fx.client.client_id, fx.client.client_secret);
    expect(await introspect(idp, fx, token)).toMatchObject({ active: true, client_id: fx.client.client_id });
    expect(idp.errorLogs()).toEqual([]);
  });
});

describe('Redis Cluster outages', () => {
  /** the server a node-local command finds something on */
  async function serverWith(command: string, ...args: string[]): Promise<OwnRedis> {
    const answers = await Promise.all(cluster.servers.map((server) => redisCommand(server.port, command, ...args)));
    return cluster.servers[answers.findIndex((answer) => Number(Array.isArray(answer) ? answer.at(-1) : answer) > 0)]!;
  }

  it('fails within the command timeout while its node or the whole cluster is down, and resumes by itself', async () => {
    const prefix = newPrefix();
    const store = clusterStore(prefix);
    const failsFast = async () => {
      const started = performance.now();
      const errors = await Promise.all([store.getJSON('k'), store.ping()].map((call) => call.then(() => 'answered', (err: unknown) => err)));
      expect(errors.filter((err) => !isStoreUnavailable(err))).toEqual([]);
      expect(performance.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
    };
    try {
      await store.putJSON('k', 1);
      const slot = String(await redisCommand(cluster.servers[0]!.port, 'CLUSTER', 'KEYSLOT', `${prefix}k`));
      await (await serverWith('CLUSTER', 'COUNTKEYSINSLOT', slot)).stop();
      await failsFast();
      await Promise.all(cluster.servers.map((server) => server.stop()));
      await failsFast();

      await Promise.all(cluster.servers.map((server) => server.start()));
      await until('the store writing again', () => store.putJSON('k', 2).then(() => true));
      expect(await store.getJSON('k')).toBe(2);
    } finally {
      await Promise.all(cluster.servers.map((server) => server.start()));
      await cluster.ok();
      await store.close();
    }
  });

  it('moves its subscription to another node when that node goes away, and drops caches', async () => {
    const prefix = newPrefix();
    const store = clusterStore(prefix);
    let listening: OwnRedis | undefined;
    try {
      const received: string[] = [];
      let resyncs = 0;
      await store.subscribe('chan', (message) => received.push(message), () => { resyncs += 1; });
      listening = await serverWith('PUBSUB', 'NUMSUB', `${prefix}chan`);
      await listening.stop();
      await until('the subscriber moving on and dropping caches', async () => resyncs > 0);
      // PUBLISH goes to any node, which relays it to the others over the cluster bus
      await until('a message through another node', async () => {
        await store.publish('chan', 'moved').catch(() => {});
        return received.includes('moved');
      });
    } finally {
      await listening?.start();
      await cluster.ok();
      await store.close();
    }
  });
});
