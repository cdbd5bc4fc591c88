import { claimsWithinScopes } from '../provider/account.js';
import type { Context } from 'koa';
import {
  errors, type Account, type ClaimsParameter, type Client, type FindAccount, type Grant, type KoaContextWithOIDC,
  type ResourceServerInstance,
} from 'oidc-provider';
import type Provider from 'oidc-provider';
import { ApiError } from '../http/errors.js';
import { resourceIndicators } from '../resources/indicators.js';

type Session = InstanceType<Provider['Session']>;

/** What the app may add to a backend authentication: one of its resources, and the OIDC `claims` request. */
export interface TokenRequest {
  resource?: string;
  claims?: ClaimsParameter;
}

/** The token response of the backend methods (without `session_id`, which the caller adds). */
export interface IssuedTokens {
  access_token: string;
  id_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
}

/** Recorded as the tokens' `gty`, as oidc-provider records the grant type that issued a token. */
const GRANT_TYPE = 'backend_authentication';

const { getResourceServerInfo } = resourceIndicators();

/**
 * Issues the calling client's tokens for a signed-in IdP session without a browser, with
 * oidc-provider's own models the way its token endpoint does (helpers/grant_common.js): a
 * Grant registered in the session for the client, an AccessToken bound to the session, a
 * RefreshToken when the client may have one, and an IdToken signed (and encrypted) by the
 * library. `issue` answers undefined when the session's user no longer exists.
 */
export class TokenIssuer {
  constructor(private readonly provider: Provider, private readonly findAccount: FindAccount) {}

  async issue(ctx: Context, client: Client, session: Session, request: TokenRequest): Promise<IssuedTokens | undefined> {
    const { provider } = this;
    const accountId = session.accountId!;
    const oidcCtx = this.contextFor(ctx, client);
    const scopes = scopesFor(client);
    const requested = request.claims ?? {};
    const resource = request.resource ? await resourceServer(provider, oidcCtx, client, request.resource) : undefined;

    const grant = await this.grantFor(session, client, scopes, requested, resource);
    session.ensureClientContainer(client.clientId);
    session.grantIdFor(client.clientId, grant.jti);
    const sid = session.sidFor(client.clientId)!;
    // oidc-provider's default: tokens without offline_access die with the session (logout, expiry)
    const expiresWithSession = !scopes.has('offline_access');

    const at = new provider.AccessToken({
      accountId, client, grantId: grant.jti, gty: GRANT_TYPE, sessionUid: session.uid, sid, expiresWithSession,
    });
    if (resource) {
      at.resourceServer = resource;
      at.scope = grant.getResourceScopeFiltered(resource.identifier(), resource.scopes);
    } else {
      at.claims = requested;
      at.scope = grant.getOIDCScopeFiltered(scopes);
    }
    const account = await this.findAccount(oidcCtx, accountId, at);
    if (!account) return undefined;
    oidcCtx.oidc.entity('Account', account);
    const accessToken = await at.save();

    let refreshToken: string | undefined;
    if (scopes.has('offline_access')) {
      refreshToken = await new provider.RefreshToken({
        accountId, client, grantId: grant.jti, gty: GRANT_TYPE, sessionUid: session.uid, sid, expiresWithSession,
        acr: session.acr, amr: session.amr, authTime: session.authTime(), claims: requested, resource: request.resource,
        rotations: 0, scope: [...scopes, ...(resource?.scopes ?? [])].join(' '),
      }).save();
    }

    return {
      access_token: accessToken,
      id_token: await this.idToken(oidcCtx, { account, session, sid, grant, scopes, mask: requested.id_token ?? {}, forResource: Boolean(at.aud) }),
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
      token_type: at.tokenType,
      expires_in: at.expiration,
    };
  }

  /**
   * A provider context for this request, as the token endpoint has one: the hooks that
   * oidc-provider and our configuration call while issuing (findAccount, resource indicators,
   * the Claims mask) read the client from it.
   */
  private contextFor(ctx: Context, client: Client): KoaContextWithOIDC {
    const oidcCtx = this.provider.createContext(ctx.req, ctx.res) as unknown as KoaContextWithOIDC;
    Object.defineProperty(oidcCtx, 'oidc', { value: new this.provider.OIDCContext(oidcCtx) });
    oidcCtx.oidc.entity('Client', client);
    return oidcCtx;
  }

  /**
   * The session's Grant for the client, extended to what it now gets. Backend authentication
   * is for the tenant's first-party apps, which consent implicitly (policies/load-grant.ts does
   * the same for their browser sign-ins), so the grant holds whatever the client is allowed.
   */
  private async grantFor(
    session: Session, client: Client, scopes: Set<string>, requested: ClaimsParameter, resource: ResourceServerInstance | undefined,
  ): Promise<Grant> {
    const { Grant } = this.provider;
    const grantId = session.grantIdFor(client.clientId);
    const existing = grantId ? await Grant.find(grantId) : undefined;
    const grant = existing?.accountId === session.accountId && existing?.clientId === client.clientId
      ? existing : new Grant({ accountId: session.accountId, clientId: client.clientId });
    grant.addOIDCScope(scopes);
    const { granted, rejected } = claimsWithinScopes([...Object.keys(requested.id_token ?? {}), ...Object.keys(requested.userinfo ?? {})], client.scope);
    if (granted.length) grant.addOIDCClaims(granted);
    if (rejected.length) grant.rejectOIDCClaims(rejected);
    if (resource?.scope) grant.addResourceScope(resource.identifier(), resource.scope);
    await grant.save();
    return grant;
  }

  /** As oidc-provider's issueIdToken: the account's claims masked by scope and the `claims` request, plus acr, amr, auth_time and sid. */
  private async idToken(oidcCtx: KoaContextWithOIDC, { account, session, sid, grant, scopes, mask, forResource }: {
    account: Account; session: Session; sid: string; grant: Grant; scopes: Set<string>;
    mask: NonNullable<ClaimsParameter['id_token']>; forResource: boolean;
  }): Promise<string> {
    const rejected = grant.getRejectedOIDCClaims();
    const token = new this.provider.IdToken({
      ...await account.claims('id_token', [...scopes].join(' '), mask, rejected),
      sub: account.accountId,
      acr: session.acr,
      amr: session.amr,
      auth_time: session.authTime(),
    }, { ctx: oidcCtx }) as InstanceType<Provider['IdToken']> & { scope: string; mask: typeof mask; rejected: string[] };
    // conformIdTokenClaims (the default): scope claims go to userinfo unless the access token cannot reach it
    token.scope = forResource ? grant.getOIDCScopeFiltered(scopes) : 'openid';
    token.mask = mask;
    // claims outside the client's scopes were rejected on the grant (claimsWithinScopes)
    token.rejected = rejected;
    token.set('sid', sid);
    return token.issue({ use: 'idtoken' });
  }
}

/**
 * The client's allowed scopes (it holds `openid`, lib/sessions/app-client.ts checks):
 * `offline_access` only with the refresh_token grant, which then brings a refresh token.
 */
function scopesFor(client: Client): Set<string> {
  const allowed = client.scope?.split(' ') ?? [];
  return new Set(allowed.filter((scope) => scope !== 'offline_access' || client.grantTypeAllowed('refresh_token')));
}

/** The resource server of one of the client's resources (RFC 8707), or a 400 naming `resource`. */
async function resourceServer(provider: Provider, oidcCtx: KoaContextWithOIDC, client: Client, uri: string): Promise<ResourceServerInstance> {
  try {
    return new provider.ResourceServer(uri, await getResourceServerInfo!(oidcCtx, uri, client));
  } catch (err) {
    if (err instanceof errors.InvalidTarget) throw new ApiError(400, `resource: ${err.error_description}`);
    throw err;
  }
}
