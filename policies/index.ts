import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { isThirdParty } from './first-party.js';
import type { ClientExtras } from '../lib/provider/client-adapter.js';

const { base, Check } = interactionPolicy;

/**
 * A client's `session_ttl` (seed 001 "Session expiration"): a session whose sign-in is older
 * is not reused silently for that client; the user signs in again (`login_required` with
 * prompt=none). Other clients keep their own window on the same session.
 */
const sessionTooOld = new Check('session_ttl', 'the session is older than the client allows', 'login_required',
  (ctx: KoaContextWithOIDC) => {
    const { session, client, result } = ctx.oidc;
    const ttl = (client as ClientExtras | undefined)?.session_ttl;
    if (!session?.accountId || ttl === undefined || result?.login) return Check.NO_NEED_TO_PROMPT;
    return session.past(ttl) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
  });

/**
 * oidc-provider's default policy (login, then consent) with two changes: a client's
 * session_ttl bounds SSO, and native first-party apps are not forced through a consent
 * screen. Third-party clients keep every consent check, and the consent prompt stays a
 * separate, replaceable step (interactions/consent.ts decides how it is answered).
 */
export function interactionPolicyFor(): interactionPolicy.DefaultPolicy {
  const policy = base();
  policy.get('login')!.checks.add(sessionTooOld);
  const consent = policy.get('consent')!;
  const native = consent.checks.get('native_client_prompt')!;
  consent.checks.remove('native_client_prompt');
  consent.checks.add(new Check(native.reason, native.description, native.error!,
    (ctx: KoaContextWithOIDC) => (isThirdParty(ctx.oidc.client) ? native.check(ctx) : Check.NO_NEED_TO_PROMPT)), 0);
  return policy;
}
