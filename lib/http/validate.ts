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
