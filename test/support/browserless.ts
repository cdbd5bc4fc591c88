import http from 'node:http';

/**
 * Drives the hosted login over plain HTTP the way a browser would: follows redirects by hand
 * and keeps cookies per origin path. Used where a real browser adds nothing but time.
 */
export class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  store(response: Response): void {
    this.storeSetCookies(response.headers.getSetCookie());
  }

  /** The raw `set-cookie` header values of a response. */
  storeSetCookies(headers: readonly string[]): void {
    for (const header of headers) {
      const [pair, ...attributes] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attributes.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attributes.some((a) => /expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(`${name}|${path}`);
      else this.cookies.set(`${name}|${path}`, { value, path });
    }
  }

  header(url: string): string {
    const { pathname } = new URL(url);
    return [...this.cookies.entries()]
      .filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map(([key, c]) => `${key.split('|')[0]}=${c.value}`)
      .join('; ');
  }
}

/** A GET with headers fetch() may not set (Sec-Fetch-Mode is the client's to decide). */
function rawGet(url: string, headers: Record<string, string>): Promise<Response> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode, headers: responseHeaders }));
      });
    }).on('error', reject);
  });
}

/** The request headers of a browser's top-level navigation. */
const NAVIGATION = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: 'text/html,application/xhtml+xml' };

type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export class Browser {
  readonly jar = new CookieJar();

  /** `fetchImpl`: e.g. one that trusts a test CA, for an IdP on https */
  constructor(private readonly fetchImpl: FetchLike = fetch) {}

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const response = await this.fetchImpl(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: this.jar.header(url) },
    });
    this.jar.store(response);
    return response;
  }

  /** Opens a URL as a top-level navigation (a link clicked on another site). */
  async navigate(url: string): Promise<Response> {
    const response = await rawGet(url, { ...NAVIGATION, cookie: this.jar.header(url) });
    this.jar.store(response);
    return response;
  }

  /** Follows redirects until one leaves `origin` (the RP's redirect URI) or a page is answered. */
  async follow(url: string, origin: string, init?: RequestInit | 'navigate'): Promise<{ url: string; response: Response }> {
    let current = url;
    let response = init === 'navigate' ? await this.navigate(current) : await this.request(current, init);
    for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops += 1) {
      current = new URL(response.headers.get('location')!, current).href;
      if (!current.startsWith(origin)) return { url: current, response };
      response = await this.request(current);
    }
    return { url: current, response };
  }

  /** From an authorization URL through the hosted login to the redirect URI (code or error). */
  async login(authUrl: string, origin: string, identifier: string, password: string): Promise<URL> {
    const page = await this.follow(authUrl, origin);
    if (!page.url.startsWith(origin)) return new URL(page.url);
    const html = await page.response.text();
    const action = /action="([^"]+)"/.exec(html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (!action || !csrf) throw new Error(`no login form at ${page.url}: ${page.response.status}`);
    const done = await this.follow(new URL(action.replace(/&amp;/g, '&'), page.url).href, origin, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, identifier, password }).toString(),
    });
    return new URL(done.url);
  }
}
