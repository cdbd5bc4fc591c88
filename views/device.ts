import { html, trusted, type SafeHtml } from './html.js';

/** What each standard scope lets a device do, in the user's words; other scopes are shown by name. */
const SCOPE_WORDS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name and profile details',
  email: 'See your email address',
  phone: 'See your phone number',
  address: 'See your postal address',
  offline_access: 'Stay connected when you are not using it',
};

export interface UserCodeEntryView {
  action: string;
  /** oidc-provider's anti-CSRF secret for this browser session */
  xsrf: string;
  userCode?: string;
  error?: string;
}

/** The code shown on the device, typed in (any case; dashes and spaces do not matter). */
export function userCodeEntryView(view: UserCodeEntryView): SafeHtml {
  return html`
<h1>Connect a device</h1>
<p class="sub">Enter the code shown on your device.</p>
${view.error ? html`<p class="error" role="alert" id="code-error">${view.error}</p>` : ''}
<form method="post" action="${view.action}" novalidate>
  <input type="hidden" name="xsrf" value="${view.xsrf}">
  <label for="user_code">Code</label>
  <input id="user_code" name="user_code" type="text" required autofocus autocomplete="off" autocapitalize="characters"
    spellcheck="false" maxlength="32" placeholder="XXXX-XXXX" value="${view.userCode ?? ''}"
    ${view.error ? html`aria-describedby="code-error"` : ''}>
  <button type="submit">Continue</button>
</form>`;
}

export interface DeviceConfirmView {
  /** oidc-provider's hidden confirmation form (id op.deviceConfirmForm: xsrf, user_code, confirm) */
  form: string;
  clientName: string;
  userCode: string;
  scopes: string[];
}

/** Last check before the device is connected: the code must match, and the user sees what it may do. */
export function deviceConfirmView(view: DeviceConfirmView): SafeHtml {
  return html`
<h1>Connect ${view.clientName}?</h1>
<p class="sub">Only continue if your device shows this code:</p>
<p><strong id="confirm-code">${view.userCode}</strong></p>
<p>${view.clientName} will be able to:</p>
<ul id="scopes">${view.scopes.map((scope) => html`<li>${SCOPE_WORDS[scope] ?? scope}</li>`)}</ul>
${trusted(view.form)}
<button type="submit" form="op.deviceConfirmForm">Allow</button>
<button type="submit" form="op.deviceConfirmForm" class="secondary" name="abort" value="yes">Cancel</button>
<p class="muted">If you did not start this on a device of yours, choose Cancel.</p>`;
}

export function deviceConnectedView(clientName: string): SafeHtml {
  return html`<h1>Device connected</h1><p class="sub">${clientName} is now signed in. You can close this window and return to your device.</p>`;
}

export function deviceCancelledView(): SafeHtml {
  return html`<h1>Not connected</h1><p class="sub">The device was not signed in. You can close this window.</p>`;
}

/** A form sent without this browser's session (expired, cookies blocked, or another site's form). */
export function codePageExpiredView(codePageUrl: string): SafeHtml {
  return html`<h1>This page has expired</h1>
<p class="sub">Open the code page again and enter the code shown on your device.</p>
<p><a href="${codePageUrl}">Enter a code</a></p>`;
}

export function codeEntryLockedView(minutes: number): SafeHtml {
  return html`<h1>Too many incorrect codes</h1>
<p class="sub" role="alert">For your security, code entry is paused. Try again in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.</p>`;
}
