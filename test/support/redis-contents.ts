import type { Redis } from 'ioredis';

/**
 * Every key under the prefix with its whole content as text, whatever the key's type, for scans
 * such as "no plain secret is stored". A type this does not know fails the scan rather than
 * being skipped, so a new kind of key cannot hide a secret from it.
 */
export async function redisContents(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  const contents = new Map<string, string>();
  for (const key of keys) contents.set(key, JSON.stringify(await contentOf(redis, key)));
  return contents;
}

async function contentOf(redis: Redis, key: string): Promise<unknown> {
  const type = await redis.type(key);
  switch (type) {
    case 'none': return null; // expired between the scan and now
    case 'string': return redis.get(key);
    case 'hash': return redis.hgetall(key);
    case 'set': return redis.smembers(key);
    case 'zset': return redis.zrange(key, '0', '-1', 'WITHSCORES');
    case 'list': return redis.lrange(key, 0, -1);
    case 'stream': return redis.xrange(key, '-', '+');
    default: throw new Error(`cannot read key ${key} of type ${type}`);
  }
}
