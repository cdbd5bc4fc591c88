import autocannon from 'autocannon';
import type { Tally } from './tally.js';

/**
 * `connections` keep-alive connections (spread over `urls`) repeat `requests` for `seconds`;
 * every response goes into the tally, 2xx as a success with its latency, anything else as a
 * failure.
 */
export function loadRequests(
  requests: autocannon.Request[], { urls, connections }: { urls: string[]; connections: number }, seconds: number, tally: Tally,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      // autocannon takes several URLs and spreads the connections over them; its types say one
      url: urls as unknown as string, requests, connections, duration: seconds, pipelining: 1,
    }, (err) => (err ? reject(err) : resolve()));
    // the event passes the client first (the type definitions leave it out)
    instance.on('response', ((_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) tally.succeeded(ms);
      else tally.failed(`HTTP ${status}`);
    }) as never);
    instance.on('reqError', (err: Error) => tally.failed(err.message));
  });
}

export const form = (fields: Record<string, string>) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});
