import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { isThirdParty } from '../../policies/first-party.js';

type ClaimsParameterFeature = NonNullable<NonNullable<Configuration['features']>['claimsParameter']>;

const isJsonObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `features.claimsParameter` (OIDC Core 5.5). oidc-provider releases `sid` to whoever asks for
 * it in `claims` (no scope covers it and no consent can refuse it). A third party has no use
 * for it here (no front- or back-channel logout is offered) and a sid is what apps call a
 * session_id, so a third party's request for `sid` is dropped before the library reads it:
 * its ID tokens carry no sid, whatever it asks.
 */
export function claimsParameter(): ClaimsParameterFeature {
  return {
    enabled: true,
    async assertClaimsParameter(ctx: KoaContextWithOIDC, parameter, client) {
      const claims = parameter as Record<string, unknown>;
      // the library's own check, which this hook replaces
      for (const container of ['userinfo', 'id_token'] as const) {
        const members = claims[container];
        if (members !== undefined && Object.values(members as object).some((value) => value !== null && !isJsonObject(value))) {
          throw new errors.InvalidRequest(`claims.${container} members must be null or objects`);
        }
      }
      if (!isThirdParty(client)) return;
      const withoutSid = Object.fromEntries(Object.entries(claims).map(([container, members]) => {
        if (!isJsonObject(members)) return [container, members];
        const { sid: _sid, ...rest } = members as Record<string, unknown>;
        return [container, rest];
      }));
      ctx.oidc.params!.claims = JSON.stringify(withoutSid);
    },
  };
}
