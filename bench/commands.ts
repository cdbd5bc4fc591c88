import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { BENCH_REUSE_INTERVAL, BENCH_USER, clientCredentialsToken, createIdpFixture, type Credentials } from './fixture.js';
import { startIdp, startRedis } from './processes.js';
import { VirtualUser } from './virtual-users.js';

/**
 * `npm run bench:commands`: Redis commands per IdP operation, deterministic where req/s is not.
 * A redis-server and one IdP process of their own; each operation runs N times, one at a time,
 * and is divided out of:
 *   - executed: INFO commandstats (every command the server ran, those inside scripts included),
 *   - sent: commands that arrived from the IdP (MONITOR lines not from "lua"), and the share of
 *     them that ran inside scripts,
 *   - reads: the server's read events (INFO stats total_reads_processed): commands that arrive
 *     together (ioredis auto-pipelining) are one read, so this counts network round trips.
 * Writes bench/results/commands.md and prints it.
 */
const RUNS = Number(process.env.BENCH_COMMAND_RUNS ?? 100);

interface Counts { executed: Map<string, number>; sent: number; inScripts: number; reads: number }

/** Counts what the server does while `work` runs (the counting connection's own reads are left out). */
async function counting(redis: Redis, monitor: Awaited<ReturnType<Redis['monitor']>>, work: () => Promise<void>): Promise<Counts> {
  let sent = 0;
  let inScripts = 0;
  const onCommand = (_time: string, args: string[], source: string) => {
    // the counting connection's own INFO / CONFIG are not the IdP's
    if (['info', 'config'].includes(args[0]!.toLowerCase())) return;
    if (source === 'lua') inScripts += 1; else sent += 1;
  };
  await redis.config('RESETSTAT');
  const readsBefore = await readsProcessed(redis);
  monitor.on('monitor', onCommand);
  await work();
  // MONITOR lines arrive after the replies: give the last ones a moment
  await new Promise((resolve) => setTimeout(resolve, 200));
  monitor.off('monitor', onCommand);
  // the INFO that reads the counter is one read of its own, as was the one before
  const reads = await readsProcessed(redis) - readsBefore - 1;
  const executed = new Map<string, number>();
  for (const [, name, calls] of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!/^(info|config|monitor)\b/.test(name!)) executed.set(name!, Number(calls));
  }
  return { executed, sent, inScripts, reads };
}

async function readsProcessed(redis: Redis): Promise<number> {
  return Number(/total_reads_processed:(\d+)/.exec(await redis.info('stats'))?.[1]);
}

async function post(url: string, fields: Record<string, string>): Promise<Record<string, string>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  const body = await response.json() as Record<string, string>;
  if (response.status !== 200) throw new Error(`POST ${url}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

interface Operation {
  name: string;
  /** made before counting starts; returns one run of the operation */
  prepare(): Promise<(i: number) => Promise<void>>;
}

function operations(url: string, client: Credentials, user: VirtualUser): Operation[] {
  const credentials = { client_id: client.clientId, client_secret: client.clientSecret };
  const refreshTokens = async (n: number) => {
    const tokens: string[] = [];
    for (let i = 0; i < n; i += 1) tokens.push((await user.sso({ scope: 'openid email offline_access', prompt: 'consent' })).refresh_token!);
    return tokens;
  };
  return [
    {
      name: 'client_credentials token',
      prepare: async () => async () => { await post(`${url}/oidc/token`, { grant_type: 'client_credentials', ...credentials }); },
    },
    {
      name: 'introspection (client_credentials access token)',
      async prepare() {
        const token = (await clientCredentialsToken(url, client)).access_token;
        return async () => { await post(`${url}/oidc/token/introspection`, { token, ...credentials }); };
      },
    },
    {
      name: 'refresh_token (rotating, each token used once)',
      async prepare() {
        const tokens = await refreshTokens(RUNS);
        return async (i) => { await post(`${url}/oidc/token`, { grant_type: 'refresh_token', refresh_token: tokens[i]!, ...credentials }); };
      },
    },
    {
      name: `refresh_token reused within the reuse interval (${BENCH_REUSE_INTERVAL} s): a sibling`,
      async prepare() {
        const [token] = await refreshTokens(1);
        await post(`${url}/oidc/token`, { grant_type: 'refresh_token', refresh_token: token!, ...credentials });
        return async () => { await post(`${url}/oidc/token`, { grant_type: 'refresh_token', refresh_token: token!, ...credentials }); };
      },
    },
    {
      name: 'authorization code, SSO session (auth → code → token)',
      prepare: async () => async () => { await user.sso(); },
    },
  ];
}

function markdown(rows: Array<{ name: string; counts: Counts }>, version: string): string {
  const per = (n: number) => (n / RUNS).toFixed(2).replace(/\.00$/, '');
  const lines = [
    `Redis commands per operation, \`npm run bench:commands\` (${RUNS} runs each, one at a time; redis-server ${version}; ${new Date().toISOString().slice(0, 10)}).`,
    '',
    '| operation | executed (INFO commandstats) | sent by the IdP | of them scripts | round trips (server reads) | executed, by command |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const { name, counts } of rows) {
    const total = [...counts.executed.values()].reduce((a, b) => a + b, 0);
    const scripts = counts.executed.get('evalsha') ?? 0;
    const detail = [...counts.executed].sort((a, b) => b[1] - a[1]).map(([command, calls]) => `${per(calls)} ${command.toUpperCase()}`).join(', ');
    lines.push(`| ${name} | ${per(total)} | ${per(counts.sent)} | ${per(scripts)} | ${per(counts.reads)} | ${detail} |`);
  }
  lines.push('', 'Executed counts every command the server ran, including those run inside a Lua script (and the EVALSHA that ran it). '
    + 'Sent is what crossed the network from the IdP; round trips count the server\'s read events, so commands that ioredis auto-pipelined into one write count once. '
    + 'Background work of the IdP (the consent sweep) runs in the same window and is included: it is well below 0.01 per operation.');
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const redisServer = await startRedis();
  const idp = await startIdp({ redisUrl: redisServer.url, prefix: 'commands:' });
  const redis = new Redis(redisServer.url);
  const monitoring = new Redis(redisServer.url);
  const monitor = await monitoring.monitor();
  try {
    const client = await createIdpFixture(idp.url);
    const user = new VirtualUser(idp.url, client);
    await user.signIn(BENCH_USER.email, BENCH_USER.password);
    const rows: Array<{ name: string; counts: Counts }> = [];
    for (const operation of operations(idp.url, client, user)) {
      const run = await operation.prepare();
      await run(-1).catch(() => undefined); // warm-up (caches), not counted; a refresh run -1 has no token and fails
      const counts = await counting(redis, monitor, async () => { for (let i = 0; i < RUNS; i += 1) await run(i); });
      rows.push({ name: operation.name, counts });
      process.stderr.write(`${operation.name}: done\n`);
    }
    user.close();
    const report = markdown(rows, redisServer.version);
    const results = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(results, { recursive: true });
    writeFileSync(join(results, 'commands.md'), report);
    process.stdout.write(report);
  } finally {
    monitor.disconnect();
    monitoring.disconnect();
    redis.disconnect();
    await idp.stop();
    await redisServer.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:commands failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
