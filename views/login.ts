import { html, type SafeHtml } from './html.js';

export interface LoginView {
  action: string;
  abortUrl: string;
  csrf: string;
  clientName: string;
  identifier?: string;
  error?: string;
}

/** Identifier + password; the error never says which of the two was wrong. */
export function loginView(view: LoginView): SafeHtml {
  return html`
<h1>Sign in</h1>
<p class="sub">to continue to <strong>${view.clientName}</strong></p>
${view.error ? html`<p class="error" role="alert" id="login-error">${view.error}</p>` : ''}
<form method="post" action="${view.action}" autocomplete="on" novalidate>
  <input type="hidden" name="csrf" value="${view.csrf}">
  <label for="identifier">Email, phone or username</label>
  <input id="identifier" name="identifier" type="text" autocomplete="username" required autofocus
    value="${view.identifier ?? ''}" ${view.error ? html`aria-describedby="login-error"` : ''}>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<p class="muted"><a href="${view.abortUrl}">Cancel and return to the application</a></p>`;
}
