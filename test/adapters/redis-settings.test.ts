import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../lib/config.js';

const CLUSTER_PREFIX = { redisKeyPrefix: '{idp}:' };

/** Where Redis is, from the environment: one server, Sentinel or Cluster, never two at once. */
describe('Redis settings', () => {
  it('keeps REDIS_URL alone as one server', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://:pw@redis.internal:6380/1' }).redis)
      .toEqual({ kind: 'single', url: 'rediss://:pw@redis.internal:6380/1' });
    expect(loadConfig({}).redis).toBeUndefined();
  });

  it('reads Sentinel: the Sentinels, the group name, and credentials, database and TLS from a REDIS_URL without host', () => {
    expect(loadConfig({
      REDIS_SENTINELS: 'sentinel-a:26379, sentinel-b:26380,[fd00::1]:26381',
      REDIS_SENTINEL_NAME: 'idp-primary',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_URL: 'rediss://idp:p%40ss@/2',
    }).redis).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: 'sentinel-a', port: 26379 }, { host: 'sentinel-b', port: 26380 }, { host: 'fd00::1', port: 26381 }],
      name: 'idp-primary',
      sentinelPassword: 'sentinel-secret',
      auth: { username: 'idp', password: 'p@ss', db: 2, tls: true },
    });
    expect(loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379', REDIS_SENTINEL_NAME: 'mymaster' }).redis)
      .toEqual({ kind: 'sentinel', sentinels: [{ host: '10.0.0.1', port: 26379 }], name: 'mymaster', auth: {} });
  });

  it('reads Cluster seed nodes, with a hash-tagged key prefix', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'node-1:6379,node-2:6379', REDIS_URL: 'redis://:secret@' }, CLUSTER_PREFIX).redis).toEqual({
      kind: 'cluster',
      nodes: [{ host: 'node-1', port: 6379 }, { host: 'node-2', port: 6379 }],
      auth: { password: 'secret', tls: false },
    });
  });

  it.each<[string, Record<string, string>, string]>([
    ['both Sentinel and Cluster', { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'n:6379' },
      'REDIS_SENTINELS and REDIS_CLUSTER_NODES cannot be used together'],
    ['Sentinels without the group name', { REDIS_SENTINELS: 's:26379' },
      'REDIS_SENTINEL_NAME (the name Sentinel monitors the primary under) is required with REDIS_SENTINELS'],
    ['a group name without Sentinels', { REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://r:6379' }, 'REDIS_SENTINEL_NAME needs REDIS_SENTINELS'],
    ['a Sentinel password without Sentinels', { REDIS_SENTINEL_PASSWORD: 'x' }, 'REDIS_SENTINEL_PASSWORD needs REDIS_SENTINELS'],
    ['a REDIS_URL naming a server beside Sentinels', { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://r:6379' },
      'REDIS_URL names a server (r:6379) but REDIS_SENTINELS names the servers: leave the host out (rediss://user:password@/db) or unset one of them'],
    ['a REDIS_URL naming a server beside Cluster nodes', { REDIS_CLUSTER_NODES: 'n:6379', REDIS_URL: 'rediss://:pw@n:6379' },
      'REDIS_URL names a server (n:6379) but REDIS_CLUSTER_NODES names the servers: leave the host out (rediss://user:password@/db) or unset one of them'],
    ['a database other than 0 on Cluster', { REDIS_CLUSTER_NODES: 'n:6379', REDIS_URL: 'redis:///3' }, 'REDIS_URL: Redis Cluster has database 0 only'],
    ['a node without port', { REDIS_CLUSTER_NODES: 'n:6379,m' }, 'REDIS_CLUSTER_NODES: must be a comma-separated list of host:port'],
    ['a port out of range', { REDIS_SENTINELS: 's:70000', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS: s:70000 has no valid port'],
  ])('refuses %s', (_, env, message) => {
    expect(() => loadConfig(env, CLUSTER_PREFIX)).toThrow(`invalid configuration: ${message}`);
  });

  it('refuses Cluster with a key prefix without hash tag, and takes braces in the prefix otherwise', () => {
    for (const redisKeyPrefix of ['idp:', '{}idp:', 'idp:{']) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'n:6379' }, { redisKeyPrefix })).toThrow(
        `invalid configuration: IDP_CONFIG.redisKeyPrefix must contain a hash tag such as "{idp}:" with REDIS_CLUSTER_NODES (now "${redisKeyPrefix}")`,
      );
    }
    expect(loadConfig({ REDIS_URL: 'redis://r:6379' }, { redisKeyPrefix: '{tenant-a}:' }).redisKeyPrefix).toBe('{tenant-a}:');
  });
});
