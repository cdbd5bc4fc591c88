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

/** JSON values no cast turns into the scalar a schema wants. */
const isStructure = (value: unknown) => value !== null && typeof value === 'object';

/**
 * The first place where a value cannot be what the schema says (null where it is not allowed,
 * an object or array where a string, number or boolean belongs, anything but an array where
 * an array belongs), in yup's words. yup applies transforms (`trim`) and runs object-level tests (ours compare fields
 * with `includes`, `some`) before its own type checks, so such a value reached them and threw
 * a TypeError instead of failing validation.
 */
export function typeMismatch(schema: yup.ISchema<unknown> | yup.Reference, value: unknown, path = ''): string | undefined {
  if (value === undefined || !yup.isSchema(schema)) return undefined;
  const resolved = schema.resolve({ value });
  if (value === null) return (resolved as yup.Schema).spec.nullable ? undefined : `${path || 'this'} cannot be null`;
  const mismatch = (type: string) => `${path || 'this'} must be a \`${type}\` type`;
  if (resolved instanceof yup.ArraySchema) {
    if (!Array.isArray(value)) return mismatch('array');
    const inner = resolved.innerType as yup.ISchema<unknown> | undefined;
    if (!inner) return undefined;
    for (const [index, element] of value.entries()) {
      const found = typeMismatch(inner, element, `${path}[${index}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (resolved instanceof yup.ObjectSchema) {
    if (!isStructure(value) || Array.isArray(value)) return mismatch('object');
    for (const [name, field] of Object.entries(resolved.fields as Record<string, yup.ISchema<unknown>>)) {
      const found = typeMismatch(field, (value as Record<string, unknown>)[name], path ? `${path}.${name}` : name);
      if (found) return found;
    }
    return undefined;
  }
  const { type } = resolved as yup.Schema;
  return ['string', 'number', 'boolean', 'date'].includes(type) && isStructure(value) ? mismatch(type) : undefined;
}

export function validateBody<T>(schema: yup.Schema<T>, body: unknown): T {
  requireObject(body);
  const mismatch = typeMismatch(schema, body);
  if (mismatch) throw new ApiError(400, mismatch);
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
