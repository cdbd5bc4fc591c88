/**
 * The auth link (seed 003 step 1): the client's `login_uri` with `auth_req_id` and, when the
 * request had one, `binding_message` as query parameters. Parameters already in `login_uri`
 * are kept.
 */
export function authLink(loginUri: string, authReqId: string, bindingMessage: unknown): string {
  const url = new URL(loginUri);
  url.searchParams.set('auth_req_id', authReqId);
  if (typeof bindingMessage === 'string' && bindingMessage) url.searchParams.set('binding_message', bindingMessage);
  return url.href;
}
