import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { isThirdParty } from './first-party.js';

const { base, Check } = interactionPolicy;

/**
 * oidc-provider's default policy (login, then consent) with one change: native first-party
 * apps are not forced through a consent screen. Third-party clients keep every check, and
 * the consent prompt stays a separate, replaceable step (interactions/consent.ts decides
 * how it is answered).
 */
export function interactionPolicyFor(): interactionPolicy.DefaultPolicy {
  const policy = base();
  const consent = policy.get('consent')!;
  const native = consent.checks.get('native_client_prompt')!;
  consent.checks.remove('native_client_prompt');
  consent.checks.add(new Check(native.reason, native.description, native.error!,
    (ctx: KoaContextWithOIDC) => (isThirdParty(ctx.oidc.client) ? native.check(ctx) : Check.NO_NEED_TO_PROMPT)), 0);
  return policy;
}
