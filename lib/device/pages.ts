import type { Context } from 'koa';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { renderPage } from '../../views/layout.js';
import type { SafeHtml } from '../../views/html.js';
import {
  codeEntryLockedView, codePageExpiredView, deviceCancelledView, deviceConfirmView, deviceConnectedView, userCodeEntryView,
} from '../../views/device.js';
import { errorView } from '../../views/messages.js';
import type { UserCodeGuessing } from './code-guessing.js';

type DeviceFlowFeature = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;

/** What the user is told when oidc-provider re-renders the code page (by its error names). */
const CODE_PROBLEMS: Record<string, string> = {
  NoCodeError: 'Enter the code shown on your device.',
  NotFoundError: 'That code is not valid. Check the code shown on your device and try again.',
  ExpiredError: 'That code has expired. Start again on your device to get a new code.',
  AlreadyUsedError: 'That code has already been used. Start again on your device to get a new code.',
};
const FORM_PROBLEM = 'Something went wrong with this form. Enter the code again.';

export function sendDevicePage(ctx: Context, title: string, body: SafeHtml, status = 200): void {
  const page = renderPage({ title, body });
  ctx.set(page.headers);
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = page.html;
}

/** The 429 page of a session or address that entered too many wrong codes. */
export function sendLocked(ctx: Context, seconds: number): void {
  ctx.set('Retry-After', String(seconds));
  sendDevicePage(ctx, 'Too many attempts', codeEntryLockedView(Math.ceil(seconds / 60)), 429);
}

/** The code entry page, optionally prefilled (from verification_uri_complete) or with a problem. */
export function sendCodeEntry(ctx: KoaContextWithOIDC, options: { userCode?: string; error?: string; status?: number } = {}): void {
  // the secret oidc-provider just put in the session; its own form carries the same value
  const xsrf = String(ctx.oidc.session?.state?.secret ?? '');
  const view = userCodeEntryView({ action: ctx.oidc.urlFor('code_verification'), xsrf, userCode: options.userCode, error: options.error });
  sendDevicePage(ctx, 'Connect a device', view, options.status);
}

const clientNameOf = (client: { clientName?: string; clientId: string } | undefined) => client?.clientName ?? client?.clientId ?? 'The device';

/**
 * oidc-provider's device flow pages (features.deviceFlow *Source hooks), rendered like the
 * hosted login: no script, the same CSP. The library keeps the logic (code lookup, xsrf,
 * abort, login through the interaction); these only choose what the user sees, and count
 * wrong codes.
 */
export function devicePages(guessing: UserCodeGuessing): Pick<DeviceFlowFeature, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'> {
  return {
    async userCodeInputSource(ctx, _form, out, err) {
      if (!err) return sendCodeEntry(ctx);
      const session = ctx.oidc.session!;
      if (typeof session.exp !== 'number') {
        // posted without a browser session: nothing to check a form against. oidc-provider has
        // just started one for a new form, which it cannot save at this point (a TypeError, 500);
        // leave it unsaved and link to a fresh code page instead
        (session as { touched?: boolean }).touched = false;
        sendDevicePage(ctx, 'Page expired', codePageExpiredView(ctx.oidc.urlFor('code_verification')), 400);
        return;
      }
      if (err.name === 'AbortedError') {
        sendDevicePage(ctx, 'Not connected', deviceCancelledView());
        return;
      }
      if (err.name === 'NotFoundError') {
        const lock = guessing.wrongCode(ctx);
        if (lock !== undefined) return sendLocked(ctx, lock);
      }
      const typed = (err as { userCode?: string }).userCode;
      const problem = CODE_PROBLEMS[err.name];
      if (problem) return sendCodeEntry(ctx, { userCode: typed, error: problem, status: 400 });
      if (out?.error === 'server_error') {
        sendDevicePage(ctx, 'Error', errorView('Something went wrong', 'Return to your device and start again.'), 500);
        return;
      }
      return sendCodeEntry(ctx, { error: FORM_PROBLEM, status: ctx.status });
    },

    async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
      // what was asked for, within what the client may have (other words are ignored, not granted)
      const allowed = new Set(client.scope?.split(' '));
      const requested = String(ctx.oidc.deviceCode?.params?.scope ?? '').split(' ');
      sendDevicePage(ctx, 'Connect a device', deviceConfirmView({
        form, userCode, clientName: clientNameOf(client), scopes: requested.filter((scope) => allowed.has(scope)),
      }));
    },

    async successSource(ctx) {
      sendDevicePage(ctx, 'Device connected', deviceConnectedView(clientNameOf(ctx.oidc.client)));
    },
  };
}
