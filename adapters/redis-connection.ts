import { Cluster, Redis, type RedisOptions } from 'ioredis';

/*
 * How the Redis store reaches Redis: one server (REDIS_URL), a Sentinel-managed primary
 * (REDIS_SENTINELS + REDIS_SENTINEL_NAME) or a Redis Cluster (REDIS_CLUSTER_NODES).
 * lib/config.ts builds the topology from the environment; redis-store.ts only stores.
 */

export interface HostPort {
  host: string;
  port: number;
}

/** What REDIS_URL adds to a Sentinel or Cluster setup: credentials, database, TLS (rediss:). */
export interface RedisAuth {
  username?: string;
  password?: string;
  db?: number;
  tls?: boolean;
}

export type RedisTopology =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: HostPort[]; name: string; sentinelPassword?: string; auth: RedisAuth }
  | { kind: 'cluster'; nodes: HostPort[]; auth: RedisAuth };

/** The commands the store uses, which a single-server client and a Cluster client share. */
export type RedisClient = Pick<Redis,
  | 'get' | 'exists' | 'mget' | 'set' | 'del' | 'getdel' | 'hmget' | 'sadd' | 'srem' | 'smembers' | 'zadd' | 'zrem'
  | 'publish' | 'quit' | 'disconnect' | 'defineCommand'> & {
  on(event: 'error', listener: (err: Error) => void): unknown;
};

/** The longest a store call waits for Redis before failing. */
export const COMMAND_TIMEOUT_MS = 2000;
const MAX_RECONNECT_DELAY_MS = 1000;
/** Cluster subscriber: reconnection attempts to one node before moving on to another. */
const SUBSCRIBER_ATTEMPTS_PER_NODE = 3;

/**
 * Redis Cluster hashes only the part of a key between the first `{` and the next `}` when
 * there is one: a prefix with such a hash tag puts every key of the store in one slot, which
 * the Lua scripts (several keys each) and MGET/DEL of many keys need. The tag, or undefined.
 */
export function hashTagOf(keyPrefix: string): string | undefined {
  return /^[^{]*\{([^}]+)\}/.exec(keyPrefix)?.[1];
}

const reconnectDelay = (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);

/** What every connection shares, whatever the topology. */
function commonOptions(): RedisOptions {
  return {
    // while Redis is away, a command waits for it (a short blip goes unnoticed) but fails
    // after COMMAND_TIMEOUT_MS whatever happens (refused connections, a hung or unreachable
    // server), so requests answer 503 instead of hanging
    maxRetriesPerRequest: 2,
    commandTimeout: COMMAND_TIMEOUT_MS,
    enableOfflineQueue: true,
    // ioredis backs off up to 5 s by default; a returning Redis is used within a second
    retryStrategy: reconnectDelay,
    lazyConnect: false,
  };
}

function authOptions(auth: RedisAuth): RedisOptions {
  return { username: auth.username, password: auth.password, db: auth.db, tls: auth.tls ? {} : undefined };
}

/** A connection to one server or to the Sentinel-managed primary (commands or subscriptions). */
function standalone(topology: Exclude<RedisTopology, { kind: 'cluster' }>, options: RedisOptions): Redis {
  if (topology.kind === 'single') return new Redis(topology.url, { ...commonOptions(), ...options });
  return new Redis({
    ...commonOptions(),
    ...authOptions(topology.auth),
    sentinels: topology.sentinels,
    name: topology.name,
    sentinelPassword: topology.sentinelPassword,
    enableTLSForSentinelMode: topology.auth.tls,
    sentinelTLS: topology.auth.tls ? {} : undefined,
    // reconnect to the new primary as soon as the Sentinels announce a failover ...
    failoverDetector: true,
    // ... and if a write still reaches the demoted one, reconnect and send it again
    reconnectOnError: (err) => (/^READONLY /.test(err.message) ? 2 : false),
    ...options,
  });
}

/** The store's command connection, every key under `keyPrefix`. */
export function connectRedis(topology: RedisTopology, keyPrefix: string): RedisClient {
  // commands issued during one event-loop turn (by concurrent requests) go out in one write
  if (topology.kind !== 'cluster') return standalone(topology, { keyPrefix, enableAutoPipelining: true });
  if (!hashTagOf(keyPrefix)) {
    throw new Error(`the Redis key prefix "${keyPrefix}" has no hash tag: on Redis Cluster use one such as "{idp}:"`);
  }
  const { retryStrategy: _perNode, enableOfflineQueue, ...redisOptions } = commonOptions();
  return timeBoxed(new Cluster(topology.nodes, {
    // on Cluster the prefix goes to the node connections; ioredis applies it to every key
    redisOptions: { ...redisOptions, ...authOptions(topology.auth), keyPrefix },
    enableOfflineQueue,
    clusterRetryStrategy: reconnectDelay,
    enableAutoPipelining: true,
    // managed TLS clusters (ElastiCache and the like) present certificates for host names, not IPs
    ...(topology.auth.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  }));
}

/**
 * ioredis's Cluster client has no command timeout of its own: while it reaches no node, a
 * command waits in its queue (or for a slot map) as long as that lasts, and a request would
 * hang. Through the returned client every command (every call that returns a promise) fails
 * after COMMAND_TIMEOUT_MS instead, with the error a single server's client gives.
 */
function timeBoxed(cluster: Cluster): Cluster {
  return new Proxy(cluster, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('Command timed out')), COMMAND_TIMEOUT_MS);
        });
        return Promise.race([result, timeout]).finally(() => clearTimeout(timer));
      };
    },
  });
}

/**
 * Closes the command connection, letting pending replies arrive (QUIT). Behind Sentinel it
 * disconnects instead: QUIT would leave the failover detector's connections to the Sentinels
 * open (ioredis closes them on disconnect only).
 */
export async function closeRedis(client: RedisClient, topology: RedisTopology): Promise<void> {
  if (topology.kind === 'sentinel') client.disconnect();
  else await client.quit().catch(() => client.disconnect());
}

export interface Subscriber {
  /** Subscribes to a channel, again after every reconnection. */
  subscribe(channel: string): Promise<void>;
  close(): void;
}

/**
 * A connection for SUBSCRIBE (no key prefix: channels are named in full). `onReconnect` runs
 * whenever it comes back after losing its server, as messages published meanwhile are lost.
 * On Cluster a PUBLISH reaches every node, so it listens on any one node and moves to another
 * when that one stays unreachable.
 */
export function connectSubscriber(
  topology: RedisTopology,
  client: RedisClient,
  onMessage: (channel: string, message: string) => void,
  onReconnect: () => void,
): Subscriber {
  const channels = new Set<string>();
  let readyBefore = false;
  let closed = false;
  let visited = 0;
  const open = (): Redis => {
    const redis = topology.kind === 'cluster'
      ? new Redis({
        ...commonOptions(), ...authOptions(topology.auth), ...nextClusterNode(topology, client, visited++),
        retryStrategy: (attempt) => (attempt > SUBSCRIBER_ATTEMPTS_PER_NODE ? null : reconnectDelay(attempt)),
      })
      : standalone(topology, {});
    redis.on('error', () => { /* reconnects by itself */ });
    redis.on('message', onMessage);
    redis.on('ready', () => {
      if (readyBefore) onReconnect();
      readyBefore = true;
    });
    // a fresh connection (the cluster subscriber's next node) subscribes itself; a
    // reconnecting one resubscribes by itself (autoResubscribe)
    if (channels.size) redis.subscribe(...channels).catch(() => { /* retried on the next node */ });
    // the cluster subscriber gave up on its node
    redis.once('end', () => { if (!closed) current = open(); });
    return redis;
  };
  let current = open();
  return {
    async subscribe(channel) {
      channels.add(channel);
      await current.subscribe(channel);
    },
    close() {
      closed = true;
      current.disconnect();
    },
  };
}

/** The nodes the Cluster client knows now (the seed nodes before it knows any), in turn. */
function nextClusterNode(topology: Extract<RedisTopology, { kind: 'cluster' }>, client: RedisClient, turn: number): HostPort {
  const known = (client as unknown as Cluster).nodes('master').map(({ options }) => ({ host: options.host!, port: options.port! }));
  const nodes = known.length ? known : topology.nodes;
  return nodes[turn % nodes.length]!;
}
