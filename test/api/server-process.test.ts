import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/global-setup.js';
import { NODE_FLAGS } from '../../lib/runtime.js';

const SERVER = fileURLToPath(new URL('../../lib/server.js', import.meta.url));

function run(env: Record<string, string>, flags: readonly string[] = NODE_FLAGS): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const { REDIS_URL: _ignored, ...base } = process.env;
  const child = spawn(process.execPath, [...flags, SERVER], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  return { child, output: () => out, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

async function waitFor(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `npm start` as an operator runs it: the compiled server, its environment, its output. */
describe('the IdP process', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  it('starts in memory, prints usable demo data, answers health checks and stops on SIGTERM', async () => {
    const port = await freePort();
    const proc = run({ PORT: String(port), NODE_ENV: 'development' });
    children.push(proc.child);
    await waitFor(() => proc.output().includes('"msg":"listening"'), 'listening');

    const out = proc.output();
    const [, clientId, secret] = /Management client:\s+(\S+) \/ (\S+)/.exec(out)!;
    const [, email, password] = /Demo user:\s+(\S+) \/ (\S+)/.exec(out)!;
    expect(email).toBe('demo@example.com');
    expect(password!.length).toBeGreaterThanOrEqual(12);
    expect(out).toMatch(/First-party client:\s+\S+ \/ \S+\s+redirect http:\/\/localhost:8080\/callback/);
    expect(out).toMatch(/Third-party client:/);
    expect(out).not.toContain('recommended Node.js flags');

    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ok', store: 'memory' });
    const token = await (await fetch(`${base}/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId!, client_secret: secret! }),
    })).json() as { access_token: string };
    const apps = await (await fetch(`${base}/v1/applications`, { headers: { authorization: `Bearer ${token.access_token}` } })).json() as { applications: Array<{ name: string }> };
    expect(apps.applications.map((a) => a.name)).toEqual(expect.arrayContaining(['Demo bank']));

    // logs are JSON and carry neither the secret nor the token
    const logs = proc.output().split('\n').filter((l) => l.startsWith('{'));
    expect(logs.length).toBeGreaterThan(0);
    logs.forEach((l) => expect(() => JSON.parse(l)).not.toThrow());
    expect(logs.join('\n')).not.toContain(secret);
    expect(logs.join('\n')).not.toContain(token.access_token);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('warns when started without the recommended flags on a Node.js that needs them', async () => {
    const proc = run({ PORT: '0', NODE_ENV: 'development' }, []);
    children.push(proc.child);
    await waitFor(() => proc.output().includes('"msg":"listening"'), 'listening');
    const warning = `"missing":["${NODE_FLAGS[0]}"],"msg":"started without the recommended Node.js flags`;
    // frames are the default from Node 24 on; the suite's own Node (devDependency) is 22
    if (Number(process.versions.node.split('.')[0]) < 24) expect(proc.output()).toContain(warning);
    else expect(proc.output()).not.toContain('recommended Node.js flags');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('stops with one clear line naming a bad configuration key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idp-config-'));
    const file = join(dir, 'idp.yaml');
    writeFileSync(file, 'ttl:\n  accessToken: -5\n');
    const proc = run({ PORT: '0', IDP_CONFIG: file });
    children.push(proc.child);
    expect(await proc.exited).toBe(2);
    expect(proc.output().trim()).toBe('invalid configuration: IDP_CONFIG.ttl.accessToken: must be greater than or equal to 1');
  });

  it('stops with one clear line on a configuration whose keys are built-ins of every object (__proto__, constructor, toString)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idp-config-'));
    const cases: Array<[string, string, string]> = [
      ['idp.json', '{"__proto__":{"x":1}}', 'invalid configuration: IDP_CONFIG: field name not allowed: __proto__'],
      ['idp.json', '{"ttl":{"session":60,"__proto__":{"polluted":true}}}', 'invalid configuration: IDP_CONFIG: field name not allowed: __proto__'],
      ['idp.json', '{"constructor":{"prototype":{"x":1}}}', 'invalid configuration: IDP_CONFIG: field name not allowed: constructor'],
      ['idp.yaml', 'otp:\n  sendLimit:\n    toString: 1\n', 'invalid configuration: IDP_CONFIG: field name not allowed: toString'],
      ['idp.yaml', '__proto__:\n  admin: true\n', 'invalid configuration: IDP_CONFIG: field name not allowed: __proto__'],
      ['idp.json', '[1, 2]', 'invalid configuration: IDP_CONFIG: must be a mapping of settings'],
      ['idp.json', '{"ttl":{"session":{"a":1}}}', 'invalid configuration: IDP_CONFIG: ttl.session must be a `number` type'],
    ];
    // one process per file, all at once: each only reads its configuration and stops
    const outcomes = await Promise.all(cases.map(async ([name, content], index) => {
      const file = join(dir, `${index}-${name}`);
      writeFileSync(file, content);
      const proc = run({ PORT: '0', IDP_CONFIG: file });
      children.push(proc.child);
      return { content, exit: await proc.exited, output: proc.output().trim() };
    }));
    expect(outcomes).toEqual(cases.map(([, content, line]) => ({ content, exit: 2, output: line })));
    // an environment variable of any name, `constructor` and `toString` included, is not the IdP's business
    const port = await freePort();
    const proc = run({ PORT: String(port), NODE_ENV: 'development', constructor: 'x', toString: '1' });
    children.push(proc.child);
    await waitFor(() => proc.output().includes('"msg":"listening"'), 'listening');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 90_000);

  it('refuses production without a client secret hash key', async () => {
    const proc = run({ PORT: '0', NODE_ENV: 'production' });
    children.push(proc.child);
    expect(await proc.exited).toBe(2);
    expect(proc.output().trim()).toBe('invalid configuration: IDP_CONFIG.clientSecretHashKey is required when NODE_ENV=production');
  });

  it('logs why Redis cannot be reached (once, not on every retry) and stops when it cannot start', async () => {
    const closedPort = await freePort();
    const proc = run({ PORT: '0', REDIS_URL: `redis://127.0.0.1:${closedPort}` });
    children.push(proc.child);
    expect(await proc.exited).toBe(1);
    const warnings = proc.output().split('\n').filter((line) => line.includes('"msg":"Redis connection error"'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, err: { code: 'ECONNREFUSED' } });
    expect(proc.output()).toMatch(/failed to start: /);
  });

  it('refuses a malformed REDIS_URL by name', async () => {
    const proc = run({ PORT: '0', REDIS_URL: 'localhost:6379' });
    children.push(proc.child);
    expect(await proc.exited).toBe(2);
    expect(proc.output().trim()).toBe('invalid configuration: REDIS_URL: must start with redis:// or rediss://');
  });

  it('finishes a request in flight on SIGTERM (200), refuses new connections, then exits 0', async () => {
    const port = await freePort();
    const proc = run({ PORT: String(port), NODE_ENV: 'development' });
    children.push(proc.child);
    await waitFor(() => proc.output().includes('"msg":"listening"'), 'listening');
    const [, clientId, secret] = /Management client:\s+(\S+) \/ (\S+)/.exec(proc.output())!;
    const token = await (await fetch(`http://127.0.0.1:${port}/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId!, client_secret: secret! }),
    })).json() as { access_token: string };

    // a slow client: the body arrives in two parts, SIGTERM in between
    const body = JSON.stringify({ name: 'Created during shutdown' });
    const slow = request({
      host: '127.0.0.1', port, method: 'POST', path: '/v1/applications',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      slow.on('response', (response) => {
        let text = '';
        response.on('data', (d) => { text += d; });
        response.on('end', () => resolve({ status: response.statusCode!, body: text }));
      });
      slow.on('error', reject);
    });
    slow.write(body.slice(0, 10));
    await new Promise((r) => setTimeout(r, 300));
    proc.child.kill('SIGTERM');
    await waitFor(() => proc.output().includes('"msg":"shutting down"'), 'shutting down');
    const refused = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, (err: Error & { cause?: { code?: string } }) => err.cause?.code);
    expect(refused).toBe('ECONNREFUSED');
    slow.end(body.slice(10));

    const done = await answered;
    expect({ status: done.status, name: JSON.parse(done.body).name }).toEqual({ status: 201, name: 'Created during shutdown' });
    expect(await proc.exited).toBe(0);
  });
});
