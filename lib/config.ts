import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import * as yup from 'yup';
import type { DeliveryConfig } from './delivery/delivery.js';
import { type HostPort, type RedisAuth, type RedisTopology, hashTagOf } from '../adapters/redis-connection.js';
import { typeMismatch, unsafeJson } from './http/validate.js';

/**
 * Every setting of the IdP, validated once at start. Environment variables carry the
 * deployment-specific values; IDP_CONFIG (JSON or YAML file) carries the rest.
 * Defaults follow seed 001 (access 60 min, refresh 2 weeks, session 2 weeks).
 */
const MINUTE = 60;
const DAY = 24 * 60 * MINUTE;

/** SMS webhook: each attempt may take this long; retried this many times in all. */
const SMS_TIMEOUT_MS = 5_000;
const SMS_ATTEMPTS = 3;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const ttlSchema = yup.object({
  accessToken: yup.number().integer().min(1).default(60 * MINUTE),
  clientCredentials: yup.number().integer().min(1).default(60 * MINUTE),
  refreshToken: yup.number().integer().min(1).default(14 * DAY),
  idToken: yup.number().integer().min(1).default(60 * MINUTE),
  authorizationCode: yup.number().integer().min(1).max(600).default(60),
  interaction: yup.number().integer().min(60).default(30 * MINUTE),
  session: yup.number().integer().min(1).max(365 * DAY).default(14 * DAY),
  grant: yup.number().integer().min(1).default(14 * DAY),
  // third-party consent: how long it lasts (seed 000: 30 days) and how long its receipts are kept
  consent: yup.number().integer().min(1).max(365 * DAY).default(30 * DAY),
  consentReceipt: yup.number().integer().min(DAY).default(3 * 365 * DAY),
}).noUnknown();

/** `points` requests per `duration` seconds. */
const rateLimitSchema = (points: number, duration: number) => yup.object({
  points: yup.number().integer().min(1).default(points),
  duration: yup.number().integer().min(1).default(duration),
}).noUnknown();

/** One-time passcodes of the backend OTP method (/v1/auth/otp). */
const otpSchema = yup.object({
  length: yup.number().integer().min(6).max(10).default(6),
  // seconds a passcode stays valid
  ttl: yup.number().integer().min(1).max(30 * MINUTE).default(5 * MINUTE),
  // wrong passcodes before the passcode is void
  attempts: yup.number().integer().min(1).max(10).default(5),
  // passcodes sent to one user
  sendLimit: rateLimitSchema(5, 15 * MINUTE).default(() => rateLimitSchema(5, 15 * MINUTE).cast({})),
}).noUnknown();

/** Silent authentication (/v1/auth/session/authenticate), limited per IdP session and per calling client. */
const silentAuthLimitSchema = yup.object({
  perSession: rateLimitSchema(10, MINUTE).default(() => rateLimitSchema(10, MINUTE).cast({})),
  perClient: rateLimitSchema(600, MINUTE).default(() => rateLimitSchema(600, MINUTE).cast({})),
}).noUnknown();

/** The tenant's scopes unless IDP_CONFIG.scopes says otherwise. */
export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'phone', 'address', 'offline_access'] as const;

const fileSchema = yup.object({
  tenantId: yup.string().matches(/^[A-Za-z0-9_-]{1,64}$/).default('default'),
  // cookie signing keys (newest first); generated once and kept in the store when absent
  cookieKeys: yup.array(yup.string().min(32).required()).optional(),
  // HMAC key for client secrets at rest; required in production
  clientSecretHashKey: yup.string().min(32).optional(),
  // braces make a Redis Cluster hash tag: "{idp}:" (required with REDIS_CLUSTER_NODES)
  redisKeyPrefix: yup.string().matches(/^[A-Za-z0-9:_{}-]{1,32}$/).default('idp:'),
  scopes: yup.array(yup.string().matches(/^[\x21\x23-\x5B\x5D-\x7E]+$/).required())
    .default([...DEFAULT_SCOPES]),
  acrValues: yup.array(yup.string().required()).default(['sfa', 'mfa']),
  uiLocales: yup.array(yup.string().required()).default(['en']),
  logLevel: yup.string().oneOf(LOG_LEVELS).default('info'),
  ttl: ttlSchema.default(() => ttlSchema.cast({})),
  otp: otpSchema.default(() => otpSchema.cast({})),
  silentAuthLimit: silentAuthLimitSchema.default(() => silentAuthLimitSchema.cast({})),
}).noUnknown();

/** host:port[,host:port...]; an IPv6 host in brackets */
const HOST_PORT = String.raw`(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}`;
const HOST_PORT_LIST = new RegExp(`^${HOST_PORT}(?:\\s*,\\s*${HOST_PORT})*$`);
const HOST_PORT_LIST_MESSAGE = '${path} must be a comma-separated list of host:port';

const envSchema = yup.object({
  PORT: yup.number().integer().min(0).max(65535).default(3000),
  PUBLIC_URL: yup.string().url().matches(/^https?:\/\/[^?#]*[^/?#]$/, '${path} must be an http(s) URL without a trailing slash').optional(),
  REDIS_URL: yup.string().matches(/^rediss?:\/\//, '${path} must start with redis:// or rediss://').optional(),
  // Redis behind Sentinel (the primary's group name with it) or a Redis Cluster: host:port lists
  REDIS_SENTINELS: yup.string().matches(HOST_PORT_LIST, HOST_PORT_LIST_MESSAGE).optional(),
  REDIS_SENTINEL_NAME: yup.string().matches(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  REDIS_SENTINEL_PASSWORD: yup.string().optional(),
  REDIS_CLUSTER_NODES: yup.string().matches(HOST_PORT_LIST, HOST_PORT_LIST_MESSAGE).optional(),
  IDP_ADMIN_CLIENT_ID: yup.string().matches(/^[A-Za-z0-9._-]{8,128}$/).optional(),
  IDP_ADMIN_CLIENT_SECRET: yup.string().min(32).optional(),
  IDP_CONFIG: yup.string().optional(),
  NODE_ENV: yup.string().optional(),
  // mTLS (RFC 8705): the IdP terminates TLS itself and asks clients for a certificate ...
  TLS_CERT: yup.string().optional(),
  TLS_KEY: yup.string().optional(),
  TLS_CA: yup.string().optional(),
  // ... or a TLS-terminating proxy forwards the client certificate (URL-encoded PEM) in this header
  MTLS_CERT_HEADER: yup.string().matches(/^[A-Za-z0-9-]{1,64}$/, '${path} must be a header name').optional(),
  // delivery of links and codes to users: email over SMTP, SMS through an HTTP webhook
  SMTP_URL: yup.string().matches(/^smtps?:\/\//, '${path} must start with smtp:// or smtps://').optional(),
  SMTP_FROM: yup.string().max(256).optional(),
  SMS_WEBHOOK_URL: yup.string().url().matches(/^https?:\/\//, '${path} must be an http(s) URL').optional(),
  SMS_WEBHOOK_SECRET: yup.string().min(16).optional(),
  LOG_LEVEL: yup.string().oneOf(LOG_LEVELS).optional(),
});

const ENV_NAMES = Object.keys(envSchema.fields);

export type FileConfig = yup.InferType<typeof fileSchema>;
export type TtlConfig = FileConfig['ttl'];
export type OtpConfig = FileConfig['otp'];
export type SilentAuthLimitConfig = FileConfig['silentAuthLimit'];

export interface Config extends FileConfig {
  port: number;
  publicUrl: string;
  issuer: string;
  /** where Redis is (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES); none: the embedded store */
  redis?: RedisTopology;
  production: boolean;
  adminClient?: { clientId: string; clientSecret: string };
  /** files of the IdP's own TLS listener (PEM) */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  mtlsCertificateHeader?: string;
  delivery: DeliveryConfig;
}

export class ConfigError extends Error {}

function validate<T>(schema: yup.Schema<T>, value: unknown, label: string): T {
  try {
    return schema.validateSync(value, { abortEarly: true, stripUnknown: false });
  } catch (err) {
    if (err instanceof yup.ValidationError) {
      const where = err.path ? `${label}${label ? '.' : ''}${err.path}` : label || 'config';
      const message = (err.errors[0] ?? 'invalid value').replace(err.path ? `${err.path} ` : '', '');
      throw new ConfigError(`invalid configuration: ${where}: ${message}`);
    }
    throw err;
  }
}

/** A list HOST_PORT_LIST matched: [fd00::1]:26379 is host fd00::1. */
function parseHostPorts(list: string, name: string): HostPort[] {
  return list.split(',').map((entry) => entry.trim()).map((entry) => {
    const at = entry.lastIndexOf(':');
    const port = Number(entry.slice(at + 1));
    if (port < 1 || port > 65535) throw new ConfigError(`invalid configuration: ${name}: ${entry} has no valid port`);
    return { host: entry.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port };
  });
}

/**
 * REDIS_URL beside REDIS_SENTINELS or REDIS_CLUSTER_NODES: those name the servers, so the URL
 * names none and carries only credentials, database and TLS: rediss://user:password@/0
 */
function parseRedisAuth(url: string | undefined, beside: string): RedisAuth {
  if (!url) return {};
  const parts = /^(rediss?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]*)(?:\/(\d*))?$/.exec(url);
  if (!parts) throw new ConfigError(`invalid configuration: REDIS_URL: with ${beside} write it as rediss://user:password@/db`);
  const [, scheme, username, password, host, db] = parts;
  if (host) {
    throw new ConfigError(`invalid configuration: REDIS_URL names a server (${host}) but ${beside} names the servers: `
      + 'leave the host out (rediss://user:password@/db) or unset one of them');
  }
  return {
    username: username ? decodeURIComponent(username) : undefined,
    password: password ? decodeURIComponent(password) : undefined,
    db: db ? Number(db) : undefined,
    tls: scheme === 'rediss',
  };
}

type Env = yup.InferType<typeof envSchema>;

/** One Redis server, Sentinel or Cluster: at most one of them, each complete. */
function redisTopology(e: Env, keyPrefix: string): RedisTopology | undefined {
  if (e.REDIS_SENTINELS && e.REDIS_CLUSTER_NODES) {
    throw new ConfigError('invalid configuration: REDIS_SENTINELS and REDIS_CLUSTER_NODES cannot be used together');
  }
  if (!e.REDIS_SENTINELS && (e.REDIS_SENTINEL_NAME || e.REDIS_SENTINEL_PASSWORD)) {
    throw new ConfigError(`invalid configuration: ${e.REDIS_SENTINEL_NAME ? 'REDIS_SENTINEL_NAME' : 'REDIS_SENTINEL_PASSWORD'} needs REDIS_SENTINELS`);
  }
  if (e.REDIS_SENTINELS) {
    if (!e.REDIS_SENTINEL_NAME) {
      throw new ConfigError('invalid configuration: REDIS_SENTINEL_NAME (the name Sentinel monitors the primary under) is required with REDIS_SENTINELS');
    }
    return {
      kind: 'sentinel',
      sentinels: parseHostPorts(e.REDIS_SENTINELS, 'REDIS_SENTINELS'),
      name: e.REDIS_SENTINEL_NAME,
      sentinelPassword: e.REDIS_SENTINEL_PASSWORD || undefined,
      auth: parseRedisAuth(e.REDIS_URL, 'REDIS_SENTINELS'),
    };
  }
  if (e.REDIS_CLUSTER_NODES) {
    const { db, ...auth } = parseRedisAuth(e.REDIS_URL, 'REDIS_CLUSTER_NODES');
    if (db) throw new ConfigError('invalid configuration: REDIS_URL: Redis Cluster has database 0 only');
    if (!hashTagOf(keyPrefix)) {
      throw new ConfigError(`invalid configuration: IDP_CONFIG.redisKeyPrefix must contain a hash tag such as "{idp}:" with REDIS_CLUSTER_NODES (now "${keyPrefix}"): `
        + 'every key of the IdP has to live in one Cluster slot');
    }
    return { kind: 'cluster', nodes: parseHostPorts(e.REDIS_CLUSTER_NODES, 'REDIS_CLUSTER_NODES'), auth };
  }
  return e.REDIS_URL ? { kind: 'single', url: e.REDIS_URL } : undefined;
}

/**
 * IDP_CONFIG's content, before the schema sees it: a mapping, with no member named like a
 * built-in of every object (`__proto__`, `constructor`, `toString`: yup looked such a name up
 * in its schema, found Object's, and failed with a TypeError) and no value of the wrong kind.
 */
function fileSettings(raw: unknown): Record<string, unknown> {
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('invalid configuration: IDP_CONFIG: must be a mapping of settings');
  const problem = unsafeJson(raw) ?? typeMismatch(fileSchema, raw);
  if (problem) throw new ConfigError(`invalid configuration: IDP_CONFIG: ${problem}`);
  return raw as Record<string, unknown>;
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(`invalid configuration: IDP_CONFIG: cannot read ${path}`);
  }
  try {
    return /\.json$/i.test(path) ? JSON.parse(text) : YAML.parse(text);
  } catch {
    throw new ConfigError(`invalid configuration: IDP_CONFIG: ${path} is not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}`);
  }
}

/** Builds the configuration from the environment (and IDP_CONFIG); throws ConfigError naming the key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<FileConfig> = {}): Config {
  // only the variables the IdP reads: the environment may hold any name, `constructor` included
  const ours = Object.fromEntries(ENV_NAMES.filter((name) => env[name] !== undefined).map((name) => [name, env[name]]));
  const e = validate(envSchema, { ...ours, PORT: env.PORT === undefined || env.PORT === '' ? undefined : env.PORT }, '');
  const raw = e.IDP_CONFIG ? fileSettings(readConfigFile(e.IDP_CONFIG)) : {};
  const file = validate(fileSchema, { ...raw, ...overrides }, 'IDP_CONFIG');
  const production = e.NODE_ENV === 'production';

  if (Boolean(e.IDP_ADMIN_CLIENT_ID) !== Boolean(e.IDP_ADMIN_CLIENT_SECRET)) {
    throw new ConfigError('invalid configuration: IDP_ADMIN_CLIENT_ID and IDP_ADMIN_CLIENT_SECRET must be set together');
  }
  if (production && !file.clientSecretHashKey) {
    throw new ConfigError('invalid configuration: IDP_CONFIG.clientSecretHashKey is required when NODE_ENV=production');
  }
  if (Boolean(e.TLS_CERT) !== Boolean(e.TLS_KEY)) {
    throw new ConfigError('invalid configuration: TLS_CERT and TLS_KEY must be set together');
  }
  if (e.TLS_CERT && e.MTLS_CERT_HEADER) {
    // with our own TLS listener the certificate comes from the handshake; a header could be forged
    throw new ConfigError('invalid configuration: MTLS_CERT_HEADER is for a TLS-terminating proxy; it cannot be used with TLS_CERT');
  }
  if (!file.scopes.includes('openid')) {
    throw new ConfigError('invalid configuration: IDP_CONFIG.scopes must include openid');
  }
  const redis = redisTopology(e, file.redisKeyPrefix);

  const publicUrl = e.PUBLIC_URL ?? `http://localhost:${e.PORT}`;
  return {
    ...file,
    logLevel: e.LOG_LEVEL ?? file.logLevel,
    port: e.PORT,
    publicUrl,
    issuer: `${publicUrl}/oidc`,
    redis,
    production,
    tls: e.TLS_CERT ? { certFile: e.TLS_CERT, keyFile: e.TLS_KEY!, caFile: e.TLS_CA } : undefined,
    mtlsCertificateHeader: e.MTLS_CERT_HEADER?.toLowerCase(),
    delivery: {
      smtpUrl: e.SMTP_URL,
      smtpFrom: e.SMTP_FROM ?? `no-reply@${new URL(publicUrl).hostname}`,
      smsWebhookUrl: e.SMS_WEBHOOK_URL,
      smsWebhookSecret: e.SMS_WEBHOOK_SECRET,
      smsTimeoutMs: SMS_TIMEOUT_MS,
      smsAttempts: SMS_ATTEMPTS,
    },
    adminClient: e.IDP_ADMIN_CLIENT_ID
      ? { clientId: e.IDP_ADMIN_CLIENT_ID, clientSecret: e.IDP_ADMIN_CLIENT_SECRET! }
      : undefined,
  };
}
