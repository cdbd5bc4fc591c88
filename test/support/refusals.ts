/**
 * What a refused call answered, for exact assertions instead of a bare `rejects.toThrow()` (which a
 * 500 or a network error would pass too). For openid-client errors: the HTTP status, the OAuth
 * error or the WWW-Authenticate challenge's error (RFC 6750 §3), and the library's error code.
 */
export interface Refusal {
  status?: number;
  /** `error` of the JSON body, or of the first WWW-Authenticate challenge */
  error?: string;
  error_description?: string;
  /** openid-client / oauth4webapi code, e.g. OAUTH_WWW_AUTHENTICATE_CHALLENGE */
  code?: string;
  message: string;
}

export async function refusalOf(call: Promise<unknown>): Promise<Refusal> {
  try {
    await call;
  } catch (err) {
    const e = err as { status?: number; code?: string; message: string; error?: string; error_description?: string; cause?: unknown };
    const challenge = Array.isArray(e.cause) ? (e.cause[0] as { parameters?: Record<string, string> } | undefined)?.parameters : undefined;
    const answer: Refusal = { message: e.message };
    const status = e.status ?? (e.cause as { status?: number } | undefined)?.status;
    if (status !== undefined) answer.status = status;
    const error = e.error ?? challenge?.error;
    if (error !== undefined) answer.error = error;
    const description = e.error_description ?? challenge?.error_description;
    if (description !== undefined) answer.error_description = description;
    if (e.code !== undefined) answer.code = e.code;
    return answer;
  }
  throw new Error('expected the call to be refused, and it succeeded');
}
