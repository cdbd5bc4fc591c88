import { SMTPServer } from 'smtp-server';
import { freePort } from './global-setup.js';

/** Quoted-printable soft line breaks and escapes (nodemailer's encoding of long lines) undone. */
function decodeQuotedPrintable(text: string): string {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** A real SMTP server that keeps what it receives: recipients and the decoded text body; `delayMs`: a slow server's wait before it accepts. */
export async function startMailbox({ delayMs = 0 } = {}) {
  const received: Array<{ to: string[]; subject: string; text: string }> = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => { raw += chunk.toString(); });
      stream.on('end', () => {
        const split = raw.indexOf('\r\n\r\n');
        const headers = raw.slice(0, split);
        const body = raw.slice(split + 4);
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: /^Subject: (.*)$/m.exec(headers)?.[1]?.trim() ?? '',
          text: /quoted-printable/i.test(headers) ? decodeQuotedPrintable(body) : body,
        });
        setTimeout(callback, delayMs);
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    /** The message to `to` after the `seen` first ones, once it has arrived (delivery is queued: it follows the answer). */
    async next(to: string, seen: number, timeoutMs = 5000) {
      for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((r) => setTimeout(r, 20))) {
        const found = received.slice(seen).find((m) => m.to.includes(to));
        if (found) return found;
      }
      throw new Error(`no message to ${to} within ${timeoutMs} ms`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
