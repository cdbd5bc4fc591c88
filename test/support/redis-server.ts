import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForRedis } from './global-setup.js';

export interface OwnRedis {
  url: string;
  port: number;
  /** the data directory (AOF files), kept across restarts */
  dir: string;
  /** stops the server (SIGTERM: Redis flushes and exits) and waits for the exit */
  stop(): Promise<void>;
  /** starts it again on the same port and directory */
  start(): Promise<void>;
  /** stops it and removes its directory */
  destroy(): Promise<void>;
}

/**
 * A redis-server of a test's own, never the suite's shared one: tests that stop Redis, or
 * need settings such as AOF persistence or keyspace notifications, start this one.
 */
export async function startOwnRedis(settings: string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'idp-own-redis-'));
  let child: ChildProcess | undefined;
  const own: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...settings], { stdio: 'ignore' });
      await waitForRedis(port);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      await new Promise((resolve) => {
        running.once('exit', resolve);
        running.kill('SIGTERM');
      });
    },
    async destroy() {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}
