/** What each permission means to a customer; unknown scopes are shown as they are. */
const DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are at the bank',
  profile: 'See your name and profile details',
  email: 'See your email address',
  phone: 'See your phone number',
  offline_access: 'Keep this access while you are away',
  balance: 'See your account balance',
  transactions: 'See your transactions',
};

const escape = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(title)}</title></head><body><main>${body}</main></body></html>`;

export function consentPage(input: { srcInteraction: string; clientName: string; requested: string[]; granted: string[] }): string {
  const item = (scope: string) => `<li>${escape(DESCRIPTIONS[scope] ?? scope)}</li>`;
  const already = input.granted.length
    ? `<p>You already allowed it to:</p><ul id="granted">${input.granted.map(item).join('')}</ul>` : '';
  return page('Allow access?', `
<h1>${escape(input.clientName)} wants to access your bank account</h1>
<p>If you allow it, ${escape(input.clientName)} will be able to:</p>
<ul id="requested">${input.requested.map(item).join('')}</ul>${already}
<p>You can withdraw this at any time. It ends by itself after 30 days.</p>
<form method="post" action="/consent">
  <input type="hidden" name="src_interaction" value="${escape(input.srcInteraction)}">
  <button name="decision" value="approve">Allow</button>
  <button name="decision" value="decline">Don't allow</button>
</form>`);
}

export function messagePage(title: string, text: string): string {
  return page(title, `<h1>${escape(title)}</h1><p role="alert">${escape(text)}</p>`);
}
