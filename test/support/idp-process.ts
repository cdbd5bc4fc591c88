import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './global-setup.js';
import { ADMIN, clientCredentialsToken, type IdpEndpoint } from './idp.js';
import { NODE_FLAGS } from '../../lib/runtime.js';

const SERVER = fileURLToPath(new URL('../../lib/server.js', import.meta.url));
/** pino's level of `error` and above: what the server logs when a request failed on its side */
const PINO_ERROR = 50;
const KEPT_OUTPUT = 64 * 1024;
/** a line of a stack trace, as Node prints one */
const STACK_FRAME = /^\s+at \S.*:\d+:\d+\)?$/;
const LOGGED_STACK = /\\n\s+at \S[^"]*:\d+:\d+/;

export interface IdpProcessOptions {
  /** Redis: one server's URL (REDIS_URL) ... */
  redisUrl?: string;
  /** ... or the variables of a Sentinel or Cluster setup (REDIS_SENTINELS, REDIS_CLUSTER_NODES, ...) */
  redisEnv?: Record<string, string>;
  /** Redis key prefix (IDP_CONFIG.redisKeyPrefix); instances of one deployment share it */
  prefix: string;
  /** the public URL (a forwarder in front of several instances); default: the process's own */
  publicUrl?: string;
  /** more IDP_CONFIG keys */
  config?: Record<string, unknown>;
  /** more environment, e.g. SMTP_URL */
  env?: Record<string, string>;
}

export interface IdpProcess extends IdpEndpoint {
  /** the process's own address (bypassing any forwarder) */
  direct: string;
  port: number;
  pid: number;
  /** error-level log lines and stack traces written so far (a request that failed on the server side) */
  errorLogs(): string[];
  /** the last output, to explain a failure */
  output(): string;
  alive(): boolean;
  /** sends the signal and waits until the process has exited */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `node dist/lib/server.js` as an operator runs it, on Redis, answering /readyz before it is returned. */
export async function startIdpProcess(options: IdpProcessOptions): Promise<IdpProcess> {
  const port = await freePort();
  const direct = `http://127.0.0.1:${port}`;
  const publicUrl = options.publicUrl ?? direct;
  const configDir = mkdtempSync(join(tmpdir(), 'idp-process-'));
  const configFile = join(configDir, 'idp.json');
  writeFileSync(configFile, JSON.stringify({ redisKeyPrefix: options.prefix, ...options.config }));
  if (!options.redisUrl && !options.redisEnv) throw new Error('startIdpProcess needs redisUrl or redisEnv');
  // the suite's own REDIS_URL is not inherited: the process gets exactly one Redis setting
  const { REDIS_URL: _suiteRedis, ...inherited } = process.env;
  const child = spawn(process.execPath, [...NODE_FLAGS, SERVER], {
    env: {
      ...inherited,
      PORT: String(port),
      PUBLIC_URL: publicUrl,
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : options.redisEnv),
      IDP_ADMIN_CLIENT_ID: ADMIN.clientId,
      IDP_ADMIN_CLIENT_SECRET: ADMIN.clientSecret,
      IDP_CONFIG: configFile,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let partial = '';
  const errors: string[] = [];
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-KEPT_OUTPUT);
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      // a stack trace printed outside the logger (Koa's default error listener) is a failure too
      if (STACK_FRAME.test(line)) errors.push(line);
      if (!line.startsWith('{')) continue;
      try {
        // a log line at error level, or one of any level that carries a stack ("\n    at f (file:1:2)")
        if ((JSON.parse(line) as { level?: number }).level! >= PINO_ERROR || LOGGED_STACK.test(line)) errors.push(line);
      } catch { /* not a log line */ }
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    rmSync(configDir, { recursive: true, force: true });
    resolve();
  }));

  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`the IdP process exited (${child.exitCode}): ${output}`);
    const ready = await fetch(`${direct}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (attempt > 300) {
      child.kill('SIGKILL');
      throw new Error(`the IdP process did not become ready: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let token: string | undefined;
  return {
    url: publicUrl,
    issuer: `${publicUrl}/oidc`,
    direct,
    port,
    pid: child.pid!,
    async adminToken() {
      token ??= await clientCredentialsToken(`${publicUrl}/oidc`, ADMIN.clientId, ADMIN.clientSecret);
      return token;
    },
    errorLogs: () => [...errors],
    output: () => output,
    alive: () => child.exitCode === null && child.signalCode === null,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
