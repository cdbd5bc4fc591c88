import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { introspect } from '../support/consent.js';
import { api, clientCredentialsToken, createFixture, uniquePrefix, type Fixture } from '../support/idp.js';
import { startIdpProcess, type IdpProcess, type IdpProcessOptions } from '../support/idp-process.js';
import {
  redisCommand, startOwnCluster, startOwnRedis, startOwnSentinel, until,
  type OwnCluster, type OwnRedis, type OwnSentinel, type RedisTls,
} from '../support/redis-server.js';
import { createCa, issue, type Issued } from '../support/tls.js';

/**
 * The IdP process on Redis over TLS only (`rediss://`; the servers listen on no plain port):
 * one server, a Sentinel-managed primary and a Cluster, each with a server certificate from a
 * throwaway CA that the IdP trusts through NODE_EXTRA_CA_CERTS (the CA file as an operator
 * mounts it). A certificate from a CA the IdP does not trust makes it not ready (503), and
 * never crashes it.
 */
let dir: string;
let trusted: RedisTls;
/** a server certificate for 127.0.0.1 from a CA the IdP is not told about */
let untrusted: { certFile: string; keyFile: string };
let redis: OwnRedis;
let sentinel: OwnSentinel;
let cluster: OwnCluster;
const idps: IdpProcess[] = [];

function writePem(name: string, issued: Issued): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  writeFileSync(certFile, issued.pem);
  writeFileSync(keyFile, issued.keyPem);
  return { certFile, keyFile };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idp-redis-tls-'));
  const ca = await createCa('Redis test CA');
  const other = await createCa('Some other CA');
  // the cluster bus asks for client certificates whatever tls-auth-clients says
  trusted = { ...writePem('redis', await issue(ca, 'CN=redis', 'server and client')), caFile: writePem('ca', ca).certFile };
  untrusted = writePem('redis-other', await issue(other, 'CN=redis', 'server and client'));
  // side by side: the three setups are independent
  [redis, sentinel, cluster] = await Promise.all([
    startOwnRedis([], undefined, trusted),
    startOwnSentinel({ replicas: 1, tls: trusted }),
    startOwnCluster({ tls: trusted }),
  ]);
});
afterAll(async () => {
  await Promise.all(idps.map((idp) => idp.kill('SIGTERM')));
  await Promise.all([redis?.destroy(), sentinel?.destroy(), cluster?.destroy()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The IdP process, trusting the test CA as an operator would make it trust a private CA. */
async function startTrustingIdp(options: Omit<IdpProcessOptions, 'env'>): Promise<IdpProcess> {
  const idp = await startIdpProcess({ ...options, env: { NODE_EXTRA_CA_CERTS: trusted.caFile } });
  idps.push(idp);
  return idp;
}

const readyz = async (idp: IdpProcess) => {
  const response = await fetch(`${idp.direct}/readyz`);
  return { status: response.status, body: await response.json() as unknown };
};

function tokenRequest(idp: IdpProcess, fx: Fixture): Promise<Response> {
  return fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fx.client.client_id, client_secret: fx.client.client_secret }),
  });
}

/** What every setup must do over TLS: ready, a management write, a token that introspects. */
async function servesOverTls(idp: IdpProcess): Promise<Fixture> {
  expect(await readyz(idp)).toEqual({ status: 200, body: { status: 'ok', store: 'redis' } });
  const fx = await createFixture(idp);
  const token = await clientCredentialsToken(idp.issuer, fx.client.client_id, fx.client.client_secret);
  expect(await introspect(idp, fx, token)).toMatchObject({ active: true, client_id: fx.client.client_id });
  return fx;
}

describe('one Redis server over TLS (rediss://)', () => {
  let idp: IdpProcess;
  let fx: Fixture;
  const prefix = uniquePrefix();

  it('serves tokens and is ready with the CA in NODE_EXTRA_CA_CERTS', async () => {
    expect(redis.url).toMatch(/^rediss:\/\/127\.0\.0\.1:\d+$/);
    idp = await startTrustingIdp({ redisUrl: redis.url, prefix });
    fx = await servesOverTls(idp);
    // the server has no plain port, so what the IdP wrote went over TLS
    expect((await redisCommand(redis.port, 'KEYS', `${prefix}*`) as string[]).length).toBeGreaterThan(0);
    expect(idp.errorLogs()).toEqual([]);
  });

  it('answers 503 while Redis presents a certificate from a CA it does not trust, stays up, and recovers', async () => {
    try {
      // a certificate rotation to a CA nobody told the IdP about; open connections keep the old
      // handshake, so they are dropped to make the IdP connect again
      await redisCommand(redis.port, 'CONFIG', 'SET', 'tls-cert-file', untrusted.certFile, 'tls-key-file', untrusted.keyFile);
      await redisCommand(redis.port, 'CLIENT', 'KILL', 'TYPE', 'normal');
      await redisCommand(redis.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');

      let ready: Awaited<ReturnType<typeof readyz>> | undefined;
      await until('/readyz answering 503', async () => (ready = await readyz(idp)).status === 503);
      expect(ready).toEqual({ status: 503, body: { status: 'unavailable', store: 'redis' } });
      const [token, user] = await Promise.all([
        tokenRequest(idp, fx).then(async (response) => ({ status: response.status, body: await response.json() })),
        api(idp, 'GET', `/v1/users/${fx.user.user_id}`),
      ]);
      expect(token).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
      expect(user).toMatchObject({ status: 503, body: { message: 'Service temporarily unavailable', error_code: 503 } });
      expect(idp.alive()).toBe(true);
    } finally {
      await redisCommand(redis.port, 'CONFIG', 'SET', 'tls-cert-file', trusted.certFile, 'tls-key-file', trusted.keyFile);
    }
    // the trusted certificate is back: the IdP reconnects by itself
    await until('/readyz answering 200 again', async () => (await readyz(idp)).status === 200);
    expect((await tokenRequest(idp, fx)).status).toBe(200);
    expect((await api(idp, 'GET', `/v1/users/${fx.user.user_id}`)).body).toMatchObject({ email: fx.user.email });
  });

  it('does not start without the CA: it exits (code 1) instead of serving, and logs the certificate error', async () => {
    const start = startIdpProcess({ redisUrl: redis.url, prefix: uniquePrefix() });
    await expect(start).rejects.toThrow(/the IdP process exited \(1\): [^]*"code":"SELF_SIGNED_CERT_IN_CHAIN"[^]*"msg":"Redis connection error"[^]*failed to start: /);
  });
});

describe('Redis Sentinel over TLS', () => {
  it('serves tokens through TLS Sentinels and follows a failover', async () => {
    const idp = await startTrustingIdp({
      // rediss:// without a host: TLS to the Sentinels and the data nodes
      redisEnv: { REDIS_SENTINELS: `127.0.0.1:${sentinel.sentinel.port}`, REDIS_SENTINEL_NAME: sentinel.name, REDIS_URL: 'rediss://' },
      prefix: uniquePrefix(),
    });
    const fx = await servesOverTls(idp);

    const old = await sentinel.primaryPort();
    // replication is asynchronous: wait until the replica has what the IdP wrote, as a failover of a healthy primary does
    const offset = async (port: number, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(String(await redisCommand(port, 'INFO', 'replication')))![1]);
    const replica = sentinel.servers.find((server) => server.port !== old)!;
    await until('the replica in sync', async () => (await offset(replica.port, 'slave_repl_offset')) >= (await offset(old, 'master_repl_offset')));
    await redisCommand(sentinel.sentinel.port, 'SENTINEL', 'FAILOVER', sentinel.name);
    await until('Sentinel promoting the replica', async () => (await sentinel.primaryPort()) !== old);
    // writes reach the promoted replica (over TLS, found through the TLS Sentinel) ...
    await until('a write through the IdP', async () => (await api(idp, 'POST', '/v1/applications', { name: 'After failover' })).status === 201);
    // ... and what was written before is there
    expect((await api(idp, 'GET', `/v1/users/${fx.user.user_id}`)).body).toMatchObject({ email: fx.user.email });
    expect((await tokenRequest(idp, fx)).status).toBe(200);
  });
});

describe('Redis Cluster over TLS', () => {
  it('serves tokens through TLS cluster nodes', async () => {
    const idp = await startTrustingIdp({
      redisEnv: { REDIS_CLUSTER_NODES: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(','), REDIS_URL: 'rediss://' },
      prefix: `{${uniquePrefix().slice(0, -1)}}:`,
    });
    await servesOverTls(idp);
    expect(idp.errorLogs()).toEqual([]);
  });
});
