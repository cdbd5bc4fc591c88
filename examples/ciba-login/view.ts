const escape = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(title)}</title></head><body><main>${body}</main></body></html>`;

/** Shows the binding message, so the user can check it matches what the agent says. */
const bindingMessage = (message: string | undefined) => (message
  ? `<p>The agent should be showing this code: <strong id="binding-message">${escape(message)}</strong>. Continue only if it matches.</p>`
  : '');

export function startPage(message: string | undefined): string {
  return page('Confirm it\'s you', `
<h1>Someone asked to confirm it's you</h1>${bindingMessage(message)}
<p><a href="/ciba/sign-in">Sign in to continue</a></p>`);
}

export function answerPage(message: string | undefined): string {
  return page('Allow access?', `
<h1>Allow the agent to act for you?</h1>${bindingMessage(message)}
<form method="post" action="/ciba/answer">
  <button name="decision" value="approve">Allow</button>
  <button name="decision" value="decline">Don't allow</button>
</form>`);
}

export function messagePage(title: string, text: string): string {
  return page(title, `<h1>${escape(title)}</h1><p role="alert">${escape(text)}</p>`);
}
