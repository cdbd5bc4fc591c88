import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_PID_FILE = join(tmpdir(), `idp-test-redis-${process.pid}.pid`);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitForRedis(port: number): Promise<void> {
  const { Redis } = await import('ioredis');
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
      await redis.ping();
      redis.disconnect();
      return;
    } catch {
      redis.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`redis-server did not start on port ${port}`);
}

/**
 * Without REDIS_URL the suite starts its own throwaway redis-server (no persistence) and
 * every test file works under its own key prefix, so nothing is ever flushed.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) return;
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore', detached: true,
  });
  child.unref();
  writeFileSync(REDIS_PID_FILE, String(child.pid));
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  process.env.IDP_TEST_OWN_REDIS = '1';
  await waitForRedis(port);
}
