import http from 'node:http';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { startMailbox, startSmsGateway } from '../ciba/support.js';
import { uniquePrefix } from '../support/idp.js';
import { startIdpProcess, type IdpProcess } from '../support/idp-process.js';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.js';
import { runsOf, type Group } from './groups.js';

/** One HTTP request as the fuzzer sends it: the path carries the query, raw as generated. */
export interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * A request that takes longer than this is a hang. The README promises an answer within one
 * store timeout (2 s) even while Redis is down; with Redis up, no request comes near it (the
 * slowest of a run is printed with FUZZ_STATS=1).
 */
const REQUEST_TIMEOUT_MS = 2_000;
/**
 * Node's HTTP parser refuses a request head (request line and headers) over 16 KiB with 431
 * before any of our code runs; a body over a body limit (16 KiB for the login form, more
 * elsewhere) is refused with 413 before it is read. Either way the server may close the
 * connection while the client still writes, and the client sees a reset instead of the answer.
 */
const MAX_HEAD_BYTES = 16 * 1024;
const SMALLEST_BODY_LIMIT = 16 * 1024;
/** The repository the server runs from: its paths must never reach a client. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** What gives a server-side failure away, when the request did not carry the same text. */
const LEAK_MARKERS = [
  /\n\s*at [^\n]*:\d+:\d+/, // a stack frame
  /node_modules/,
  new RegExp(ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
  /\/(?:dist|lib|adapters|policies|interactions)\/[\w./-]+\.js\b/,
  /\b(?:TypeError|ReferenceError|RangeError|URIError|SyntaxError|AssertionError)\b/,
  /\bCannot read propert/,
  /\bis not a function\b/,
  /\bundefined is not\b/,
];

/** A refusal: an error status, or a redirect that carries an OAuth error to the client. */
export function refused(answer: Answer): boolean {
  if (answer.status >= 400) return true;
  const location = answer.headers.location;
  return answer.status >= 300 && answer.status < 400 && typeof location === 'string' && /[?#&]error=/.test(location);
}

/**
 * What an accepted answer (neither an error status nor an error redirect) must be, for one
 * endpoint group: a problem, or undefined. Without it a refusal turning into a success (a 403
 * that becomes 200) would pass every other invariant.
 */
export type AcceptedCheck = (sent: Sent, answer: Answer) => string | undefined;

/** The parameters an OAuth endpoint reads: a POST's form body, else the query. */
export function paramsOf(sent: Sent): URLSearchParams {
  if (sent.method === 'POST' && sent.body && /^application\/x-www-form-urlencoded/i.test(sent.headers['content-type'] ?? '')) {
    return new URLSearchParams(sent.body.toString('latin1'));
  }
  return new URLSearchParams(sent.path.includes('?') ? sent.path.slice(sent.path.indexOf('?') + 1) : '');
}

/** An answer's JSON object, or undefined when it is no JSON object. */
export function jsonOf(answer: Answer): Record<string, unknown> | undefined {
  try {
    const body: unknown = JSON.parse(answer.text);
    return body !== null && typeof body === 'object' && !Array.isArray(body) ? body as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** The status and what the answer says (an OAuth error, our message, a page's heading), to tally. */
function outcomeOf(answer: Answer): string {
  try {
    const body = JSON.parse(answer.text) as { error?: string; error_description?: string; message?: string };
    return `${answer.status} ${body.error ?? ''} ${(body.error_description ?? body.message ?? '').slice(0, 50)}`;
  } catch {
    return `${answer.status} ${/<h1[^>]*>([^<]*)/.exec(answer.text)?.[1] ?? ''}`;
  }
}

function describe(sent: Sent, answer?: Answer): string {
  const body = sent.body ? sent.body.subarray(0, 600).toString('latin1') : '';
  const request = `${sent.method} ${sent.path.slice(0, 600)}\n${JSON.stringify(sent.headers).slice(0, 600)}\n${body}`;
  return answer ? `${request}\n=> ${answer.status} ${answer.text.slice(0, 800)}` : request;
}

/**
 * The invariants every answer must hold: the request completes in time, never a 5xx, never a
 * stack trace, source path or runtime error name that the request did not itself carry, and
 * JSON answers parse.
 */
export function checkAnswer(sent: Sent, answer: Answer): void {
  const request = `${sent.path}\n${Object.values(sent.headers).join('\n')}\n${sent.body?.toString('utf8') ?? ''}\n${sent.body?.toString('latin1') ?? ''}`;
  // what the server may echo: the request as sent and with its (well-formed) escapes decoded
  const decoded = `${request}\n${request.replace(/\+/g, ' ').replace(/(?:%[0-9A-Fa-f]{2})+/g, (escapes) => {
    try { return decodeURIComponent(escapes); } catch { return escapes; }
  })}`;
  if (answer.status >= 500) throw new Error(`server error:\n${describe(sent, answer)}`);
  for (const marker of LEAK_MARKERS) {
    const leaked = marker.exec(answer.text)?.[0];
    if (leaked && !decoded.includes(leaked.trim())) throw new Error(`leaked "${leaked}":\n${describe(sent, answer)}`);
  }
  if (/^application\/json/.test(String(answer.headers['content-type'])) && answer.text) {
    try { JSON.parse(answer.text); } catch { throw new Error(`malformed JSON answer:\n${describe(sent, answer)}`); }
  }
}

/**
 * Every write the IdP makes under its key prefix, from Redis keyspace notifications. A marker
 * published after a response arrives on the same connection after the notifications of every
 * command executed before it, so `changes` sees all writes the request made, and compares
 * the keys' contents with before (a lock taken and released is no change).
 */
class StoreWatch {
  private readonly subscriber: Redis;
  private readonly reader: Redis;
  private readonly touched = new Set<string>();
  private readonly contents = new Map<string, string>();
  private readonly waiting = new Map<string, () => void>();
  private markers = 0;

  constructor(url: string, private readonly prefix: string, private readonly channel = `fuzz-marker:${prefix}`) {
    this.subscriber = new Redis(url);
    this.reader = new Redis(url);
    this.subscriber.on('pmessage', (_pattern: string, source: string) => {
      this.touched.add(source.slice(source.indexOf(':') + 1));
    });
    this.subscriber.on('message', (_channel: string, marker: string) => this.waiting.get(marker)?.());
  }

  async start(): Promise<void> {
    await this.subscriber.psubscribe(`__keyspace@0__:${this.prefix}*`);
    await this.subscriber.subscribe(this.channel);
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.reader.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    for (const key of keys) this.contents.set(key, await this.read(key));
  }

  /** A key's content, whatever its type ('' when absent); TTLs are not content. */
  private async read(key: string): Promise<string> {
    switch (await this.reader.type(key)) {
      case 'none': return '';
      case 'string': return `s:${await this.reader.get(key)}`;
      case 'hash': return `h:${JSON.stringify(Object.entries(await this.reader.hgetall(key)).sort())}`;
      case 'set': return `S:${JSON.stringify((await this.reader.smembers(key)).sort())}`;
      case 'zset': return `z:${JSON.stringify(await this.reader.call('zrange', key, '0', '-1', 'WITHSCORES'))}`;
      case 'list': return `l:${JSON.stringify(await this.reader.lrange(key, 0, -1))}`;
      default: return `?:${JSON.stringify(await this.reader.call('dump', key))}`;
    }
  }

  /** The keys (without the prefix) whose content differs from before the last call. */
  async changes(): Promise<string[]> {
    const marker = String((this.markers += 1));
    const arrived = new Promise<void>((resolve) => this.waiting.set(marker, resolve));
    await this.reader.publish(this.channel, marker);
    await arrived;
    this.waiting.delete(marker);
    const keys = [...this.touched];
    this.touched.clear();
    const changed: string[] = [];
    for (const key of keys) {
      const now = await this.read(key);
      if (now !== (this.contents.get(key) ?? '')) changed.push(key.slice(this.prefix.length));
      if (now) this.contents.set(key, now);
      else this.contents.delete(key);
    }
    return changed;
  }

  close(): void {
    this.subscriber.disconnect();
    this.reader.disconnect();
  }
}

/**
 * Writes a refused request may make, by design: failed attempts are counted (rate limits,
 * wrong device codes, wrong passcodes) and polling is timed (slow_down).
 */
export const COUNTED_ATTEMPTS = [/^ratelimit:/, /^poll-pace:/, /^otp:/];

export interface FuzzTarget {
  idp: IdpProcess;
  send(sent: Sent): Promise<Answer>;
  /** fast-check over `requests`: every answer holds the invariants, refusals change nothing, accepted answers pass `accepted` */
  run(group: Group, requests: fc.Arbitrary<Sent>, allowedWrites?: RegExp[], accepted?: AcceptedCheck): Promise<void>;
  close(): Promise<void>;
}

/**
 * The server process on a Redis of its own (keyspace notifications on), with working email
 * and SMS delivery (a refused CIBA delivery is a 503 by design, not what is fuzzed here).
 */
export async function startFuzzTarget(config: Record<string, unknown> = {}): Promise<FuzzTarget> {
  const redis: OwnRedis = await startOwnRedis(['--notify-keyspace-events', 'Kg$lshz']);
  const mailbox = await startMailbox();
  const sms = await startSmsGateway(new Set());
  const prefix = uniquePrefix();
  const idp = await startIdpProcess({
    redisUrl: redis.url, prefix, config,
    env: { SMTP_URL: mailbox.url, SMS_WEBHOOK_URL: sms.url, SMS_WEBHOOK_SECRET: 'fuzz-webhook-secret-0123456789' },
  });
  const watch = new StoreWatch(redis.url, prefix);
  await watch.start();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const { hostname, port } = new URL(idp.direct);

  function send(sent: Sent): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const request = http.request({
        host: hostname, port, method: sent.method, path: sent.path, agent, timeout: REQUEST_TIMEOUT_MS,
        headers: { ...sent.headers, ...(sent.body ? { 'content-length': String(sent.body.length) } : {}) },
      }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({
          status: response.statusCode!, headers: response.headers, text: Buffer.concat(chunks).toString('utf8'),
        }));
        response.on('error', reject);
      });
      request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms:\n${describe(sent)}`)));
      request.on('error', (err: NodeJS.ErrnoException) => {
        const head = sent.path.length + Object.entries(sent.headers).reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0);
        const tooLarge = head > MAX_HEAD_BYTES ? 431 : (sent.body?.length ?? 0) > SMALLEST_BODY_LIMIT ? 413 : undefined;
        if (tooLarge && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          resolve({ status: tooLarge, headers: {}, text: '' });
          return;
        }
        reject(new Error(`${err.message}:\n${describe(sent)}`));
      });
      request.end(sent.body);
    });
  }

  async function run(group: Group, requests: fc.Arbitrary<Sent>, allowedWrites: RegExp[] = COUNTED_ATTEMPTS, accepted?: AcceptedCheck): Promise<void> {
    await watch.changes(); // writes of the setup are not the fuzzer's
    const outcomes = new Map<string, number>();
    let slowest = { ms: 0, request: '' };
    const result = await fc.check(fc.asyncProperty(requests, async (sent) => {
      const started = performance.now();
      const answer = await send(sent);
      const ms = performance.now() - started;
      if (ms > slowest.ms) slowest = { ms, request: `${sent.method} ${sent.path.slice(0, 80)}` };
      const outcome = outcomeOf(answer);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      checkAnswer(sent, answer);
      const changed = await watch.changes();
      if (!refused(answer)) {
        const problem = accepted?.(sent, answer);
        if (problem) throw new Error(`accepted, but ${problem}:\n${describe(sent, answer)}`);
        return;
      }
      const unexpected = changed.filter((key) => !allowedWrites.some((allowed) => allowed.test(key)));
      if (unexpected.length) throw new Error(`a refused request changed ${unexpected.join(', ')}:\n${describe(sent, answer)}`);
    }), { numRuns: runsOf(group), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined, endOnFailure: !process.env.FUZZ_SHRINK });
    // FUZZ_STATS=1: how the answers spread, to see that the fuzzer gets past the first checks
    if (process.env.FUZZ_STATS) {
      process.stdout.write(`${group}: slowest ${Math.round(slowest.ms)} ms (${slowest.request})\n${[...outcomes].sort().map(([outcome, n]) => `  ${n} ${outcome}`).join('\n')}\n`);
    }
    // fast-check's own report prints the whole request, megabytes of it for the huge values
    if (result.failed) {
      const cause = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      throw new Error(`${group}: failed after ${result.numRuns} runs (FUZZ_SEED=${result.seed}):\n${cause.slice(0, 4000)}`);
    }
    // the process is still there, answers, and logged no failure of its own
    const health = await send({ method: 'GET', path: '/healthz', headers: {} });
    if (health.status !== 200 || !idp.alive()) throw new Error(`the IdP stopped answering: ${idp.output()}`);
    const errors = idp.errorLogs();
    if (errors.length) throw new Error(`the IdP logged errors:\n${errors.slice(0, 5).join('\n')}`);
  }

  return {
    idp,
    send,
    run,
    async close() {
      agent.destroy();
      watch.close();
      await idp.kill('SIGTERM');
      await Promise.all([mailbox.close(), sms.close()]);
      await redis.destroy();
    },
  };
}
