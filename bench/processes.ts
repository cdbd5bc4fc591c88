import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../test/support/global-setup.js';
import { BENCH_ADMIN } from './fixture.js';
import { NODE_FLAGS } from '../lib/runtime.js';

/** dist/ root: the compiled server and baseline live next to this file's parent. */
const DIST = fileURLToPath(new URL('..', import.meta.url));
const READY_TIMEOUT_MS = 20_000;

export interface Child {
  readonly url: string;
  readonly pid: number;
  /** resident set size in bytes (Linux /proc) */
  rss(): number;
  /** CPU time used so far (user + system), ms (Linux /proc) */
  cpu(): number;
  stop(): Promise<void>;
}

async function waitFor(check: () => Promise<boolean>, what: string, child?: ChildProcess): Promise<void> {
  const until = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < until) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not become ready within ${READY_TIMEOUT_MS} ms`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** utime + stime of /proc/<pid>/stat, in clock ticks of 10 ms (USER_HZ = 100 on Linux) */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU used so far by some processes (ms) and by the whole machine (jiffies, all cores). */
export interface Usage {
  processes: number;
  hostBusy: number;
  hostTotal: number;
}

export function usageOf(children: Child[]): () => Usage {
  return () => {
    // cpu  user nice system idle iowait irq softirq steal ...: idle and iowait are not busy
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { processes: children.reduce((sum, child) => sum + child.cpu(), 0), hostBusy: total - ticks[3]! - ticks[4]!, hostTotal: total };
  };
}

/**
 * A throwaway redis-server on a free port, no persistence: the benchmark never touches an
 * existing Redis database.
 */
export async function startRedis(): Promise<Child & { version: string }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  let version = '';
  await waitFor(async () => {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
      version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '';
      return true;
    } finally {
      redis.disconnect();
    }
  }, 'redis-server', child);
  const pid = child.pid!;
  return { url, version, pid, rss: () => rssOf(pid), cpu: () => cpuOf(pid), stop: () => stopChild(child) };
}

export interface NodeChildOptions {
  script: string;
  /** the environment, given the child's own base URL */
  env: (url: string) => Record<string, string>;
  readyPath: string;
  /** extra node flags, e.g. --cpu-prof */
  nodeArgs?: string[];
}

/** A Node.js child process (our server or the baseline), ready once `readyPath` answers 200. */
export async function startNode({ script, env, readyPath, nodeArgs = [] }: NodeChildOptions): Promise<Child> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...NODE_FLAGS, ...nodeArgs, join(DIST, script)], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env(url), PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitFor(async () => (await fetch(url + readyPath)).status === 200, script, child);
  } catch (err) {
    child.kill();
    throw err;
  }
  const pid = child.pid!;
  return { url, pid, rss: () => rssOf(pid), cpu: () => cpuOf(pid), stop: () => stopChild(child) };
}

export interface IdpOptions {
  redisUrl?: string;
  /** one key prefix per deployment; processes of one deployment share it */
  prefix?: string;
  cookieKeys?: string[];
  /** the deployment's public URL (processes of one deployment share it); default: the process's own */
  publicUrl?: string;
  nodeArgs?: string[];
}

/** `node dist/lib/server.js` as an operator runs it, configured through env and an IDP_CONFIG file. */
export async function startIdp(options: IdpOptions): Promise<Child> {
  const dir = mkdtempSync(join(tmpdir(), 'idp-bench-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({
    logLevel: 'silent',
    clientSecretHashKey: 'bench-client-secret-hash-key-0123456789abcdef',
    ...(options.prefix ? { redisKeyPrefix: options.prefix } : {}),
    ...(options.cookieKeys ? { cookieKeys: options.cookieKeys } : {}),
  }));
  const child = await startNode({
    script: 'lib/server.js',
    readyPath: '/readyz',
    nodeArgs: options.nodeArgs,
    env: (url) => ({
      PUBLIC_URL: options.publicUrl ?? url,
      IDP_CONFIG: configFile,
      IDP_ADMIN_CLIENT_ID: BENCH_ADMIN.clientId,
      IDP_ADMIN_CLIENT_SECRET: BENCH_ADMIN.clientSecret,
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    }),
  });
  return { ...child, stop: async () => { await child.stop(); rmSync(dir, { recursive: true, force: true }); } };
}

export function startBaseline(nodeArgs?: string[]): Promise<Child> {
  return startNode({ script: 'bench/baseline-server.js', readyPath: '/oidc/.well-known/openid-configuration', env: () => ({}), nodeArgs });
}
