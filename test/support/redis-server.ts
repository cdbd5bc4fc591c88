import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { HostPort, RedisTopology } from '../../adapters/redis-connection.js';
import { freePort } from './global-setup.js';

/** PEM files of a TLS server of the test's own: it presents the certificate and trusts the CA (replication, cluster bus). */
export interface RedisTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** Ports of the servers of the test's own that speak TLS only: redisCommand reaches them over TLS. */
const tlsPorts = new Set<number>();

export interface OwnRedis {
  /** redis:// or, on TLS, rediss:// */
  url: string;
  port: number;
  /** the data directory (AOF files), kept across restarts */
  dir: string;
  /** stops the server (SIGTERM: Redis flushes and exits; SIGKILL: a crash) and waits for the exit */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** starts it again on the same port and directory (if it is not running) */
  start(): Promise<void>;
  /** stops it and removes its directory */
  destroy(): Promise<void>;
}

/**
 * A redis-server of a test's own, never the suite's shared one: tests that stop Redis, or
 * need settings such as AOF persistence or keyspace notifications, start this one.
 * `configFile`: the text of a config file to start from (Sentinel needs one it can rewrite).
 * `tls`: it listens on TLS only (`--port 0`), and replicates (or, as Sentinel, monitors) over TLS;
 * clients need not present a certificate.
 */
export async function startOwnRedis(settings: string[] = [], configFile?: string, tls?: RedisTls): Promise<OwnRedis> {
  const port = await freePort();
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
      '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no', '--tls-replication', 'yes']
    : ['--port', String(port)];
  if (tls) tlsPorts.add(port);
  const dir = mkdtempSync(join(tmpdir(), 'idp-own-redis-'));
  const config = configFile === undefined ? [] : [join(dir, 'redis.conf')];
  if (configFile !== undefined) writeFileSync(config[0]!, configFile);
  let child: ChildProcess | undefined;
  const own: OwnRedis = {
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    port,
    dir,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      const started = spawn('redis-server', [...config, ...listen, '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...settings], { stdio: 'ignore' });
      child = started;
      for (const deadline = performance.now() + 5000; ;) {
        if (await redisCommand(port, 'PING').then(() => true, () => false)) return;
        // a bad setting stops it at once: say so instead of waiting
        if (started.exitCode !== null) throw new Error(`redis-server on port ${port} exited (${started.exitCode})`);
        if (performance.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(signal = 'SIGTERM') {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      await new Promise((resolve) => {
        running.once('exit', resolve);
        running.kill(signal);
      });
    },
    async destroy() {
      await own.stop();
      tlsPorts.delete(port);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await own.start();
  } catch (err) {
    await own.destroy();
    throw err;
  }
  return own;
}

/** Polls `check` until it holds (a rejection counts as not yet); the milliseconds it took. */
export async function until(what: string, check: () => Promise<boolean>, withinMs = 10_000): Promise<number> {
  const started = performance.now();
  while (!(await check().catch(() => false))) {
    if (performance.now() - started > withinMs) throw new Error(`${what} did not happen within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return performance.now() - started;
}

/**
 * One admin command to one server (a connection of its own, closed afterwards). To a TLS
 * server it does not check the certificate: the test's own tooling, not the IdP's trust under test.
 */
export async function redisCommand(port: number, command: string, ...args: Array<string | number>): Promise<unknown> {
  const redis = new Redis({
    port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null,
    tls: tlsPorts.has(port) ? { rejectUnauthorized: false } : undefined,
  });
  redis.on('error', () => {});
  try {
    return await redis.call(command, ...args);
  } finally {
    redis.disconnect();
  }
}

/** Starts servers side by side; if one fails to start, stops those that did. */
async function startAll(count: number, start: () => Promise<OwnRedis>): Promise<OwnRedis[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, start));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (servers.length < count) {
    await Promise.all(servers.map((server) => server.destroy()));
    throw (started.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason;
  }
  return servers;
}

export interface OwnCluster {
  /** the seed nodes (REDIS_CLUSTER_NODES) */
  nodes: HostPort[];
  topology: RedisTopology;
  servers: OwnRedis[];
  /** waits until every node reports cluster_state:ok (after restarts) */
  ok(): Promise<void>;
  destroy(): Promise<void>;
}

export interface ClusterOptions {
  primaries?: number;
  /** replicas of each primary */
  replicas?: number;
  /** how long a node may be unreachable before the others count it as failed (and fail it over) */
  nodeTimeoutMs?: number;
  /** TLS only: clients, the cluster bus and replication */
  tls?: RedisTls;
}

/**
 * A Redis Cluster (3 primaries without replicas by default) without persistence, created with
 * `redis-cli --cluster create`, returned once every node reports cluster_state:ok and every
 * replica is in sync.
 */
export async function startOwnCluster({ primaries = 3, replicas = 0, nodeTimeoutMs = 2000, tls }: ClusterOptions = {}): Promise<OwnCluster> {
  // the cluster bus gets a free port of its own (the default, port + 10000, may be taken or invalid);
  // a primary sends a replica its first copy at once (by default it waits 5 s for more of them)
  const servers = await startAll(primaries * (1 + replicas), async () => startOwnRedis([
    '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(await freePort()),
    '--cluster-node-timeout', String(nodeTimeoutMs), '--appendonly', 'no', '--repl-diskless-sync-delay', '0',
    ...(tls ? ['--tls-cluster', 'yes'] : []),
  ], undefined, tls));
  const destroy = () => Promise.all(servers.map((server) => server.destroy())).then(() => {});
  try {
    const nodes = servers.map((server) => ({ host: '127.0.0.1', port: server.port }));
    // it would wait forever for nodes that cannot talk to each other (a bad TLS setup): fail instead
    await promisify(execFile)('redis-cli', [
      ...(tls ? ['--tls', '--cacert', tls.caFile] : []),
      '--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes',
    ], { timeout: 15_000 });
    const ok = async () => {
      await until('cluster_state:ok on every node', async () => {
        const states = await Promise.all(servers.map((server) => redisCommand(server.port, 'CLUSTER', 'INFO')));
        return states.every((info) => /cluster_state:ok/.test(String(info)));
      });
    };
    await ok();
    await until('the replicas in sync', async () => (await Promise.all(
      servers.map((server) => redisCommand(server.port, 'INFO', 'replication')),
    )).filter((info) => /role:slave/.test(String(info))).every((info) => /master_link_status:up/.test(String(info))));
    return { nodes, topology: { kind: 'cluster', nodes, auth: tls ? { tls: true } : {} }, servers, ok, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}

export interface OwnSentinel {
  /** the group name Sentinel monitors the primary under (REDIS_SENTINEL_NAME) */
  name: string;
  topology: RedisTopology;
  /** the first primary and its replica: after a failover, the other way round */
  servers: OwnRedis[];
  sentinel: OwnRedis;
  /** the port of the server Sentinel names as primary now */
  primaryPort(): Promise<number>;
  destroy(): Promise<void>;
}

export interface SentinelOptions {
  /** replicas of the primary */
  replicas?: number;
  /** the group name (REDIS_SENTINEL_NAME) */
  name?: string;
  /** TLS only: clients, the Sentinel, its connections to the servers, and replication */
  tls?: RedisTls;
}

/** A primary, its replicas (none by default), and one Sentinel monitoring them (quorum 1). */
export async function startOwnSentinel({ replicas = 0, name = 'idp-test', tls }: SentinelOptions = {}): Promise<OwnSentinel> {
  // the primary sends its replicas their first copy at once (by default it waits 5 s for more of them)
  const servers = await startAll(1, () => startOwnRedis(['--appendonly', 'no', '--repl-diskless-sync-delay', '0'], undefined, tls));
  let sentinel: OwnRedis | undefined;
  const destroy = () => Promise.all([...servers, sentinel].map((server) => server?.destroy())).then(() => {});
  try {
    const primary = servers[0]!.port;
    servers.push(...await startAll(replicas, () => startOwnRedis(['--appendonly', 'no', '--replicaof', '127.0.0.1', String(primary)], undefined, tls)));
    // Sentinel learns the replicas from the primary's INFO (then every 10 s): they are connected first
    await until('the replicas in sync', async () => (await Promise.all(
      servers.slice(1).map((replica) => redisCommand(replica.port, 'INFO', 'replication')),
    )).every((info) => /master_link_status:up/.test(String(info))));
    sentinel = await startOwnRedis(['--sentinel'], [
      `sentinel monitor ${name} 127.0.0.1 ${primary} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      '',
    ].join('\n'), tls);
    const { port } = sentinel;
    // a failover needs a replica Sentinel knows
    await until('Sentinel knowing the replicas', async () => {
      const known = await redisCommand(port, 'SENTINEL', 'REPLICAS', name) as string[][];
      return known.filter((fields) => /slave/.test(fields[fields.indexOf('flags') + 1]!)).length === replicas
        && known.every((fields) => fields[fields.indexOf('master-link-status') + 1] === 'ok');
    });
    return {
      name,
      topology: { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port }], name, auth: tls ? { tls: true } : {} },
      servers,
      sentinel,
      async primaryPort() {
        return Number((await redisCommand(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name) as string[])[1]);
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
