import * as oidc from 'openid-client';
import { Browser } from '../support/browserless.js';
import { api, type Fixture, type TestIdp } from '../support/idp.js';
import { DEVICE_CODE_GRANT } from '../../lib/clients/schema.js';
import { epochSeconds } from '../../lib/time.js';

export { DEVICE_CODE_GRANT };
export const insecure = { execute: [oidc.allowInsecureRequests] };
/** oidc-provider's user code alphabet (base-20) in the mask ****-**** */
export const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

/** A first-party device client (no redirect URI) and an openid-client configuration for it. */
export async function deviceClient(t: TestIdp, fx: Fixture, settings: Record<string, unknown> = {}) {
  const created = await api(t, 'POST', `/v1/applications/${fx.appId}/clients`, {
    name: 'Living-room TV', grant_types: [DEVICE_CODE_GRANT, 'refresh_token'], scopes: ['openid', 'email', 'offline_access'], ...settings,
  });
  if (created.status !== 201) throw new Error(`device client: ${JSON.stringify(created.body)}`);
  const secret = created.body.client_secret as string | undefined;
  const rp = await oidc.discovery(new URL(t.issuer), created.body.client_id, secret, secret ? undefined : oidc.None(), insecure);
  return { clientId: created.body.client_id as string, clientSecret: secret, rp };
}

/** The token endpoint answer to one poll: tokens, or the OAuth error code. */
export async function pollOnce(rp: oidc.Configuration, deviceCode: string): Promise<{ tokens?: oidc.TokenEndpointResponse; error?: string }> {
  try {
    return { tokens: await oidc.genericGrantRequest(rp, DEVICE_CODE_GRANT, { device_code: deviceCode }) };
  } catch (err) {
    if (err instanceof oidc.ResponseBodyError) return { error: err.error };
    throw err;
  }
}

/** Lets a device code's lifetime run out, as 600 seconds would (through the provider, as the library saves it). */
export async function expireDeviceCode(t: TestIdp, deviceCode: string): Promise<void> {
  const code = await t.idp.provider.DeviceCode.find(deviceCode);
  if (!code) throw new Error('no such device code');
  code.exp = epochSeconds() - 1;
  await code.save();
}

export interface PageAnswer {
  status: number;
  url: string;
  html: string;
  headers: Headers;
}

const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];

/**
 * A person at the verification URI, over plain HTTP: one browser (cookies), one client
 * address (X-Forwarded-For; the IdP trusts its proxy), forms filled in as a browser would.
 */
export class DevicePages {
  readonly browser = new Browser();
  private xsrf = '';

  constructor(private readonly t: TestIdp, readonly ip: string, private readonly base = t.issuer) {}

  private async request(url: string, init: RequestInit = {}): Promise<PageAnswer> {
    let current = url;
    let response = await this.browser.request(current, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-forwarded-for': this.ip } });
    for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops += 1) {
      current = new URL(response.headers.get('location')!, current).href;
      // another site (a third party's Consent URI): where the browser went is all there is to see
      if (new URL(current).origin !== new URL(this.t.url).origin) break;
      response = await this.browser.request(current, { headers: { 'x-forwarded-for': this.ip } });
    }
    const html = await response.text();
    this.xsrf = field(html, 'xsrf') ?? this.xsrf;
    return { status: response.status, url: current, html, headers: response.headers };
  }

  private post(url: string, form: Record<string, string>): Promise<PageAnswer> {
    return this.request(url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString(),
    });
  }

  /** The code entry page (verification_uri, or any URL of it). */
  open(url = `${this.base}/device`): Promise<PageAnswer> {
    return this.request(url);
  }

  /** Submits the code entry form (opens the page first if no form was seen yet); `url`: where it is posted. */
  async enter(userCode: string, url = `${this.base}/device`): Promise<PageAnswer> {
    if (!this.xsrf) await this.open();
    return this.post(url, { xsrf: this.xsrf, user_code: userCode });
  }

  /** Answers the confirmation page: Allow (continues to the login) or Cancel. */
  answer(userCode: string, allow: boolean): Promise<PageAnswer> {
    return this.post(`${this.base}/device`, { xsrf: this.xsrf, user_code: userCode, confirm: 'yes', ...(allow ? {} : { abort: 'yes' }) });
  }

  /** Signs in on the hosted login page the flow arrived at. */
  async login(loginPage: PageAnswer, identifier: string, password: string): Promise<PageAnswer> {
    const action = /action="([^"]+)"/.exec(loginPage.html)?.[1];
    const csrf = field(loginPage.html, 'csrf');
    if (!action || !csrf) throw new Error(`no login form at ${loginPage.url}: ${loginPage.status}`);
    return this.post(new URL(action.replace(/&amp;/g, '&'), loginPage.url).href, { csrf, identifier, password });
  }

  /** Code → confirmation → Allow → login → the success page. */
  async approve(userCode: string, user: { email: string; password: string }): Promise<PageAnswer> {
    const confirm = await this.enter(userCode);
    if (!confirm.html.includes('op.deviceConfirmForm')) throw new Error(`no confirmation page: ${confirm.status} ${confirm.html}`);
    const loginPage = await this.answer(userCode, true);
    return this.login(loginPage, user.email, user.password);
  }
}
