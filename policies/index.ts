import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { isThirdParty } from './first-party.js';
import type { ClientExtras } from '../lib/provider/client-extras.js';

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
 * `acr_values` asking for `mfa` (seed 004): oidc-provider treats acr_values as voluntary and
 * would reuse a single-factor session silently; here such a session asks for a new sign-in
 * (`login_required` with prompt=none). A list that also accepts the session's acr
 * (`acr_values=sfa mfa` with an sfa session) is satisfied. After a sign-in the request goes on
 * with the acr the user reached, which the ID token tells the app.
 */
const mfaNotSatisfied = new Check('acr_values_mfa', 'the session does not satisfy the requested acr_values', 'login_required',
  (ctx: KoaContextWithOIDC) => {
    const { session, params, result } = ctx.oidc;
    const requested = typeof params?.acr_values === 'string' ? params.acr_values.split(' ') : [];
    if (!session?.accountId || result?.login || !requested.includes('mfa')) return Check.NO_NEED_TO_PROMPT;
    return session.acr && requested.includes(session.acr) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  });

/**
 * oidc-provider's default policy (login, then consent) with three changes: a client's
 * session_ttl bounds SSO, acr_values=mfa needs an mfa session, and native first-party apps
 * are not forced through a consent screen. Third-party clients keep every consent check, and
 * the consent prompt stays a separate, replaceable step (interactions/consent.ts decides how
 * it is answered).
 */
export function interactionPolicyFor(): interactionPolicy.DefaultPolicy {
  const policy = base();
  policy.get('login')!.checks.add(sessionTooOld);
  policy.get('login')!.checks.add(mfaNotSatisfied);
  const consent = policy.get('consent')!;
  const native = consent.checks.get('native_client_prompt')!;
  consent.checks.remove('native_client_prompt');
  consent.checks.add(new Check(native.reason, native.description, native.error!,
    (ctx: KoaContextWithOIDC) => (isThirdParty(ctx.oidc.client) ? native.check(ctx) : Check.NO_NEED_TO_PROMPT)), 0);
  return policy;
}
