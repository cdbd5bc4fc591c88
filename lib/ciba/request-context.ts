import { errors } from 'oidc-provider';
import { customMessageProblem, normalizedMessage } from './custom-message.js';

/** How the auth link reaches the user: by us (SMS, email) or returned to the client to share itself. */
export const CHANNELS = ['sms', 'email', 'link'] as const;
/** What `login_hint` holds. */
export const LOGIN_HINT_TYPES = ['phone', 'email', 'user_id'] as const;
export const DEFAULT_MESSAGE = 'To verify it\'s you, click this link:';
const MAX_CONTEXT_LENGTH = 2048;

export interface RequestContext {
  channel: typeof CHANNELS[number];
  login_hint_type: typeof LOGIN_HINT_TYPES[number];
  custom_message: string;
}

const invalid = (description: string) => new errors.InvalidRequest(`request_context: ${description}`);

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * The CIBA `request_context` parameter (seed 002): a stringified JSON object with `channel`
 * (sms by default), `login_hint_type` (phone by default) and `custom_message`. Parsed where
 * needed (the raw string travels with the request's params), so it is validated once at
 * the backchannel endpoint and read again when the link is sent. Unknown members are
 * refused so that a misspelt `chanel` does not silently fall back to SMS.
 */
export function parseRequestContext(raw: unknown): RequestContext {
  if (raw === undefined || raw === '') return { channel: 'sms', login_hint_type: 'phone', custom_message: DEFAULT_MESSAGE };
  if (typeof raw !== 'string' || raw.length > MAX_CONTEXT_LENGTH) throw invalid(`must be a JSON object of at most ${MAX_CONTEXT_LENGTH} characters`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid('must be a stringified JSON object');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('must be a stringified JSON object');
  const { channel, login_hint_type: hintType, custom_message: message, ...unknown } = parsed as Record<string, unknown>;
  const extra = Object.keys(unknown)[0];
  if (extra !== undefined) throw invalid(`unknown member ${extra}`);
  if (message !== undefined && typeof message !== 'string') throw invalid('custom_message must be a string');
  const text = message === undefined ? DEFAULT_MESSAGE : normalizedMessage(message);
  const problem = customMessageProblem(text);
  if (problem) throw invalid(`custom_message ${problem}`);
  return {
    channel: oneOf('channel', channel, CHANNELS, 'sms'),
    login_hint_type: oneOf('login_hint_type', hintType, LOGIN_HINT_TYPES, 'phone'),
    custom_message: text,
  };
}
