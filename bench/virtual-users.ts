import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { CookieJar } from '../test/support/browserless.js';
import { BENCH_REDIRECT_URI, type Credentials } from './fixture.js';
import type { Tally } from './tally.js';

interface Reply {
  status: number;
  location?: string;
  body: string;
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * A browserless user agent: one keep-alive connection (as a browser keeps to one origin),
 * a cookie jar, redirects followed by hand. Plain node:http, so the load generator spends
 * as little of the shared CPU as it can.
 */
export class VirtualUser {
  jar = new CookieJar();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** PKCE pair of this user (the server hashes the verifier on every exchange all the same) */
  readonly verifier = randomBytes(32).toString('base64url');
  readonly challenge = createHash('sha256').update(this.verifier).digest('base64url');

  constructor(readonly baseUrl: string, readonly client: Credentials) {}

  request(method: 'GET' | 'POST', url: string, form?: Record<string, string>): Promise<Reply> {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    return new Promise((resolve, reject) => {
      const req = http.request(url, {
        method,
        agent: this.agent,
        headers: { cookie: this.jar.header(url), ...(body ? { 'content-type': FORM, 'content-length': Buffer.byteLength(body) } : {}) },
      }, (res) => {
        const cookies = res.headers['set-cookie'];
        if (cookies) this.jar.storeSetCookies(cookies);
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({
          status: res.statusCode!,
          location: res.headers.location && new URL(res.headers.location, url).href,
          body: Buffer.concat(chunks).toString(),
        }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Follows redirects until the redirect URI (returned) or a page (thrown unless `page`). */
  async follow(url: string, init?: { form: Record<string, string> }): Promise<{ callback?: URL; page?: Reply }> {
    let reply = await this.request(init ? 'POST' : 'GET', url, init?.form);
    for (let hops = 0; hops < 10 && reply.location; hops += 1) {
      if (reply.location.startsWith(BENCH_REDIRECT_URI)) return { callback: new URL(reply.location) };
      reply = await this.request('GET', reply.location);
    }
    return { page: reply };
  }

  authorizationUrl(params: Record<string, string> = {}): string {
    return `${this.baseUrl}/oidc/auth?${new URLSearchParams({
      client_id: this.client.clientId, response_type: 'code', scope: 'openid email', redirect_uri: BENCH_REDIRECT_URI,
      state: 'bench', code_challenge: this.challenge, code_challenge_method: 'S256', ...params,
    })}`;
  }

  /** The code at the redirect URI → tokens. */
  async redeem(callback: URL | undefined): Promise<{ access_token: string; refresh_token?: string }> {
    const code = callback?.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback?.search ?? 'stopped at a page'}`);
    const reply = await this.request('POST', `${this.baseUrl}/oidc/token`, {
      grant_type: 'authorization_code', code, redirect_uri: BENCH_REDIRECT_URI, code_verifier: this.verifier,
      client_id: this.client.clientId, client_secret: this.client.clientSecret,
    });
    if (reply.status !== 200) throw new Error(`token endpoint: ${reply.status} ${reply.body}`);
    return JSON.parse(reply.body);
  }

  /** Hosted login: the form page, its fields (csrf if any) posted back, on to the redirect URI. */
  async signIn(identifier: string, password: string, params: Record<string, string> = {}) {
    const { callback, page } = await this.follow(this.authorizationUrl(params));
    if (callback) return this.redeem(callback);
    const action = /action="([^"]+)"/.exec(page!.body)?.[1];
    if (!action) throw new Error(`no login form: ${page!.status}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page!.body)?.[1];
    const done = await this.follow(new URL(action.replace(/&amp;/g, '&'), this.baseUrl).href, {
      form: { ...(csrf ? { csrf } : {}), identifier, password },
    });
    return this.redeem(done.callback);
  }

  /** Authorization with the existing session (SSO): code at once, then the token exchange. */
  async sso(params: Record<string, string> = {}) {
    return this.redeem((await this.follow(this.authorizationUrl(params))).callback);
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Every user runs `roundTrip` in a loop for `seconds`; round trips that end in time go into
 * the tally (latency of the whole round trip), the ones still running then finish uncounted.
 */
export async function loadRoundTrips(users: VirtualUser[], roundTrip: (user: VirtualUser) => Promise<unknown>, seconds: number, tally: Tally): Promise<void> {
  const end = performance.now() + seconds * 1000;
  await Promise.all(users.map(async (user) => {
    while (performance.now() < end) {
      const began = performance.now();
      try {
        await roundTrip(user);
        if (performance.now() <= end) tally.succeeded(performance.now() - began);
        else tally.endedLate();
      } catch (err) {
        if (performance.now() <= end) tally.failed((err as Error).message);
        else tally.endedLate();
      }
    }
  }));
}
