import type { Middleware } from 'koa';
import * as yup from 'yup';
import { ApiError } from './errors.js';

/** Validates a JSON body; a failure is a 400 naming the field, e.g. "redirect_uris[0]: must use https". */
export function requireObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'Request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

export function validateBody<T>(schema: yup.Schema<T>, body: unknown): T {
  requireObject(body);
  try {
    return schema.validateSync(body, { abortEarly: true, stripUnknown: false });
  } catch (err) {
    if (err instanceof yup.ValidationError) {
      const message = err.errors[0] ?? 'invalid value';
      if (err.type === 'noUnknown') throw new ApiError(400, `unknown field: ${(err.params?.unknown as string) ?? ''}`.trim());
      throw new ApiError(400, err.path && !message.startsWith(err.path) ? `${err.path}: ${message}` : message);
    }
    throw err;
  }
}

/** Member names every JavaScript object inherits (`constructor`, `toString`, `__proto__`, ...). */
const BUILTIN_MEMBERS = new Set(Object.getOwnPropertyNames(Object.prototype));
/** Far deeper than any of our bodies (custom data included) needs. */
export const MAX_JSON_DEPTH = 32;

/**
 * What makes a parsed JSON body unsafe to hand to validators: a member name that shadows a
 * built-in of every object, or nesting deeper than MAX_JSON_DEPTH. Walked without recursion,
 * since a 64 KiB body can nest thousands deep.
 */
export function unsafeJson(body: unknown): string | undefined {
  const pending: Array<[unknown, number]> = [[body, 0]];
  while (pending.length) {
    const [value, depth] = pending.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) return `JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
    for (const [name, member] of Object.entries(value)) {
      if (BUILTIN_MEMBERS.has(name)) return `field name not allowed: ${name}`;
      pending.push([member, depth + 1]);
    }
  }
  return undefined;
}

/**
 * Refuses unsafe JSON bodies (400) before any validator sees them: yup looks a member named
 * `constructor` up in its schema and finds Object's, calls a `toString` member, and recurses
 * (printing a value, casting arrays) until the stack overflows; each was a 500. Built-in names
 * are also the stuff of prototype pollution.
 */
export function refuseUnsafeJson(): Middleware {
  return async (ctx, next) => {
    const problem = unsafeJson(ctx.request.body);
    if (problem !== undefined) throw new ApiError(400, problem);
    await next();
  };
}
