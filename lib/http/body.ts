import type { Context, Middleware } from 'koa';
import compose from 'koa-compose';
import { koaBody } from 'koa-body';
import { ApiError } from './errors.js';
import { refuseUnsafeJson } from './validate.js';

/**
 * Reading request bodies, the same way on every surface. Only bodies sent as they are, in
 * UTF-8: no client of an IdP compresses its requests, and oidc-provider ignores
 * Content-Encoding (a gzip-labelled form was read as plain text and answered 200), while
 * koa-body inflated it and failed on a body that was not compressed (500, stack trace in the
 * log). Any other coding or charset is refused with 415 before a parser runs (RFC 9110
 * 15.5.16, with Accept-Encoding: identity), and every parser failure is a 4xx naming it.
 */

/** Headers of a 415 for a content coding: the only one we read. */
const ACCEPT_IDENTITY = { 'Accept-Encoding': 'identity' };

/** Why a request body's content coding cannot be read (415), or undefined when it can. */
function codingProblem(ctx: Context): string | undefined {
  const coding = ctx.get('content-encoding').trim().toLowerCase();
  if (!coding || coding === 'identity') return undefined;
  // a header on a request without a body (a GET) labels nothing
  if (!ctx.get('transfer-encoding') && !(Number(ctx.get('content-length')) > 0)) return undefined;
  return `Content-Encoding ${coding.slice(0, 40)} is not supported: send the body uncompressed`;
}

/** Why one of our parsers cannot read a body (415), or undefined when it can: coding, then charset. */
function unreadableBody(ctx: Context): string | undefined {
  const coding = codingProblem(ctx);
  if (coding || !ctx.get('content-type')) return coding;
  const charset = ctx.request.charset.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    return `charset ${charset.slice(0, 40)} is not supported: send the body in UTF-8`;
  }
  return undefined;
}

/** raw-body's failure types, in words a client understands. */
const PARSER_FAILURES: Record<string, [number, string]> = {
  'entity.too.large': [413, 'Request body too large'],
  'request.aborted': [400, 'Request body was cut off'],
  'request.size.invalid': [400, 'Request body does not match its Content-Length'],
  'encoding.unsupported': [415, 'Request body encoding is not supported'],
};

/** A body parser's failure as [status, message]: a 4xx always (the body is the client's). */
function parserFailure(err: unknown): [number, string] {
  const { type, status } = err as { type?: string; status?: number };
  const known = type ? PARSER_FAILURES[type] : undefined;
  if (known) return known;
  if (status === 413) return PARSER_FAILURES['entity.too.large']!;
  if (status === 415) return [415, 'Request body type is not supported'];
  return [400, 'Request body is not valid JSON (an object or an array)'];
}

/**
 * JSON bodies of the REST API (/v1, /auth/backchannel/complete): UTF-8 only, at most 64 KiB,
 * an object or an array, no built-in member names, not nested too deep. Failures are
 * ApiErrors, which jsonErrors answers as `{ message, error_code }`.
 */
export function jsonBody(): Middleware {
  const parse = koaBody({ json: true, urlencoded: false, multipart: false, jsonLimit: '64kb', jsonStrict: true });
  return compose([
    async (ctx: Context, next: () => Promise<unknown>) => {
      const unreadable = unreadableBody(ctx);
      if (unreadable) throw new ApiError(415, unreadable, ACCEPT_IDENTITY);
      try {
        await parse(ctx, async () => undefined);
      } catch (err) {
        const [status, message] = parserFailure(err);
        throw new ApiError(status, message);
      }
      await next();
    },
    refuseUnsafeJson(),
  ] as Middleware[]);
}

/** An error for a page's error handler (htmlErrors): its status, and `expose`: the message is fit to show. */
class BodyError extends Error {
  readonly expose = true;
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A form posted by one of our pages (the sign-in form): urlencoded, UTF-8, at most `limit`. */
export function formBody(limit: string): Middleware {
  const parse = koaBody({ urlencoded: true, json: false, multipart: false, formLimit: limit });
  return async (ctx, next) => {
    const unreadable = unreadableBody(ctx);
    if (unreadable) throw new BodyError(415, unreadable);
    try {
      await parse(ctx, async () => undefined);
    } catch (err) {
      const [status, message] = parserFailure(err);
      throw new BodyError(status, status === 400 ? 'Request body could not be read' : message);
    }
    await next();
  };
}

/**
 * oidc-provider's endpoints read their bodies themselves (a form or JSON, 56 KiB, decoded in
 * the charset the label names: Java clients label forms ISO-8859-1, which stays accepted). A
 * body in a content coding, which the provider would read as plain text, is refused here as
 * an OAuth error, before any of its routes.
 */
export function refuseEncodedOAuthBody(): Middleware {
  // not async: a request with a readable body passes straight through, no promise layer added
  return (ctx, next) => {
    const unreadable = codingProblem(ctx);
    if (!unreadable) return next();
    ctx.status = 415;
    ctx.set(ACCEPT_IDENTITY);
    ctx.body = { error: 'invalid_request', error_description: unreadable };
    return Promise.resolve();
  };
}
