import type { Context } from 'koa';
import type { Client } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Store } from '../../adapters/index.js';
import type { RateLimiter } from '../../adapters/store.js';
import type { SilentAuthLimitConfig } from '../config.js';
import { ApiError } from '../http/errors.js';
import type { ClientExtras } from '../provider/client-adapter.js';
import { epochSeconds } from '../time.js';
import { sessionNotFound, withinLimit } from './errors.js';
import { afterAuthentication, type AuthMethod } from './factors.js';
import { sessionLifetime } from './lifetime.js';
import { findSessionBySid } from './session-ids.js';
import type { IssuedTokens, TokenIssuer, TokenRequest } from './tokens.js';

/** Marks a session logged out through /v1/auth/session/logout, for as long as it could have lived. */
const endedKey = (sessionUid: string) => `session-ended:${sessionUid}`;

export interface SessionTokens extends IssuedTokens {
  session_id: string;
}

export interface SessionServiceDeps {
  provider: Provider;
  store: Store;
  tokens: TokenIssuer;
  /** ttl.session: seconds a session lives after its last authentication */
  sessionTtl: number;
  limits: SilentAuthLimitConfig;
}

/**
 * IdP sessions for backend authentication (seed 004). They are oidc-provider's own Session
 * records, the ones the hosted login creates, so a session is one thing whether a browser or
 * an app's backend signed the user in: amr/acr/auth_time, lifetime and logout are shared.
 */
export class SessionService {
  private readonly provider: Provider;
  private readonly store: Store;
  private readonly tokens: TokenIssuer;
  private readonly lifetime: ReturnType<typeof sessionLifetime>;
  private readonly perSession: RateLimiter;
  private readonly perClient: RateLimiter;
  private readonly sessionTtl: number;

  constructor({ provider, store, tokens, sessionTtl, limits }: SessionServiceDeps) {
    this.provider = provider;
    this.store = store;
    this.tokens = tokens;
    this.lifetime = sessionLifetime(sessionTtl);
    this.sessionTtl = sessionTtl;
    this.perSession = store.rateLimiter({ name: 'silent-auth-session', ...limits.perSession });
    this.perClient = store.rateLimiter({ name: 'silent-auth-client', ...limits.perClient });
  }

  /**
   * The user has just authenticated with `method` through `client`'s backend: a new session,
   * or, with `sessionId`, one more authentication in that session (the same user's), which is
   * how a second factor is added. Either way the session's lifetime starts again.
   */
  async signIn(ctx: Context, client: Client, userId: string, method: AuthMethod, sessionId: string | undefined, request: TokenRequest): Promise<SessionTokens> {
    const session = sessionId ? await this.find(sessionId) : new this.provider.Session();
    if (session.accountId && session.accountId !== userId) {
      throw new ApiError(400, 'session_id: the session belongs to another user');
    }
    session.loginAccount({ accountId: userId, loginTs: epochSeconds(), ...afterAuthentication(session.amr, method) });
    const tokens = await this.tokens.issue(ctx, client, session, request);
    if (!tokens) throw sessionNotFound();
    await this.saveUnlessEnded(session, client);
    return { ...tokens, session_id: sessionId ?? session.sidFor(client.clientId)! };
  }

  /**
   * Silent authentication: the session's user gets `client`'s tokens without interaction.
   * It does not extend the session, and a session older than the client's session_ttl is,
   * for that client, no session.
   */
  async authenticate(ctx: Context, client: Client, sessionId: string, request: TokenRequest): Promise<SessionTokens> {
    await withinLimit(this.perClient, client.clientId);
    const session = await this.find(sessionId);
    await withinLimit(this.perSession, session.uid);
    const sessionTtl = (client as ClientExtras).session_ttl;
    if (sessionTtl !== undefined && session.past(sessionTtl)) throw sessionNotFound();
    const tokens = await this.tokens.issue(ctx, client, session, request);
    if (!tokens) throw sessionNotFound();
    await this.saveUnlessEnded(session, client);
    return { ...tokens, session_id: sessionId };
  }

  /**
   * Ends the session for every app and browser, as RP-initiated logout with `logout=yes` does:
   * the grants of its apps (and their tokens) are revoked, then the session is destroyed.
   */
  async logout(sessionId: string): Promise<void> {
    const session = await this.find(sessionId);
    // first: an authentication racing this logout sees it after saving, and undoes itself
    await this.store.putJSON(endedKey(session.uid), true, this.sessionTtl);
    await Promise.all(Object.values(session.authorizations ?? {})
      .filter((authorization) => authorization.grantId && !authorization.persistsLogout)
      .map(({ grantId }) => this.revokeGrant(grantId!)));
    await session.destroy();
  }

  /**
   * Saves the session after an authentication in it; the expiry stays loginTs + ttl (never 0:
   * Session#persist would then save it without expiry). If the session was logged out
   * meanwhile, the save is undone with the grant just used, and the caller gets "Session not found".
   */
  private async saveUnlessEnded(session: InstanceType<Provider['Session']>, client: Client): Promise<void> {
    await session.save(this.lifetime(undefined, session));
    if (!(await this.store.getJSON(endedKey(session.uid)))) return;
    const grantId = session.grantIdFor(client.clientId);
    if (grantId) await this.revokeGrant(grantId);
    await session.destroy();
    throw sessionNotFound();
  }

  private async revokeGrant(grantId: string): Promise<void> {
    const { AccessToken, RefreshToken, AuthorizationCode, Grant } = this.provider;
    await Promise.all([
      AccessToken.revokeByGrantId(grantId),
      RefreshToken.revokeByGrantId(grantId),
      AuthorizationCode.revokeByGrantId(grantId),
      Grant.adapter.destroy(grantId),
    ]);
  }

  private async find(sessionId: string) {
    const session = await findSessionBySid(this.provider, this.store, sessionId);
    if (!session) throw sessionNotFound();
    return session;
  }
}
