import http from 'node:http';
import { freePort } from '../support/global-setup.js';

export interface Forwarder {
  /** the public URL (PUBLIC_URL of every instance behind it) */
  url: string;
  /** sends every following request to another instance, as a load balancer whose health check failed */
  switchTo(target: string): void;
  close(): Promise<void>;
}

/**
 * A load balancer in front of IdP instances: every request goes, unchanged (Host included),
 * to the current target; no target, or a dead one, answers 502.
 */
export async function startForwarder(): Promise<Forwarder> {
  let current: URL | undefined;
  const server = http.createServer((req, res) => {
    const target = current;
    if (!target) {
      res.writeHead(502).end();
      return;
    }
    const upstream = http.request({
      host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers,
    }, (answer) => {
      res.writeHead(answer.statusCode!, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    switchTo(next) {
      current = new URL(next);
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
