import { randomBytes } from 'node:crypto';
import { html, trusted, type SafeHtml } from './html.js';

const STYLE = `
  *{box-sizing:border-box}
  body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}
  main{max-width:26rem;margin:8vh auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
  h1{font-size:1.4rem;margin:0 0 .25rem} p.sub{margin:0 0 1.5rem;color:#4b5563}
  label{display:block;font-weight:600;margin:1rem 0 .3rem}
  input{width:100%;padding:.65rem .75rem;border:1px solid #9ca3af;border-radius:8px;font:inherit}
  input:focus,button:focus,a:focus{outline:3px solid #2563eb;outline-offset:2px}
  button{width:100%;margin-top:1.5rem;padding:.7rem;border:0;border-radius:8px;background:#1d4ed8;color:#fff;font:inherit;font-weight:600;cursor:pointer}
  button.secondary{background:#e5e7eb;color:#111827;margin-top:.75rem}
  .error{background:#fef2f2;color:#991b1b;border:1px solid #fecaca;border-radius:8px;padding:.6rem .8rem;margin:0 0 1rem}
  .muted{color:#4b5563;font-size:.9rem;margin-top:1.25rem;text-align:center}
  a{color:#1d4ed8}`;

export interface Page {
  title: string;
  body: SafeHtml;
  lang?: string;
}

/**
 * Full HTML document plus the headers every page of ours is sent with: no script at all,
 * the inline style allowed by nonce, never framed, never cached.
 */
export function renderPage({ title, body, lang = 'en' }: Page): { html: string; headers: Record<string, string> } {
  const nonce = randomBytes(16).toString('base64');
  const doc = html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style nonce="${nonce}">${trusted(STYLE)}</style>
</head>
<body><main>${body}</main></body>
</html>`;
  return {
    html: doc.value,
    headers: {
      'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'`,
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    },
  };
}
