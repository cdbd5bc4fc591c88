import { html, trusted, type SafeHtml } from './html.js';

export function errorView(title: string, description: string): SafeHtml {
  return html`<h1>${title}</h1><p class="sub">${description}</p>`;
}

/** RP-initiated logout confirmation; `form` is oidc-provider's hidden form (holds its xsrf token). */
export function logoutView(form: string, clientName?: string): SafeHtml {
  return html`
<h1>Sign out</h1>
<p class="sub">${clientName ? `${clientName} asks to sign you out. ` : ''}Do you want to sign out of all applications?</p>
${trusted(form)}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`;
}

export function loggedOutView(): SafeHtml {
  return html`<h1>Signed out</h1><p class="sub">You have been signed out. You can close this window.</p>`;
}
