import type { Context } from 'koa';
import type { AdapterPayload, Client } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { RateLimiter, Store } from '../../adapters/store.js';
import type { SilentAuthLimitConfig } from '../config.js';
import { ApiError, conflict } from '../http/errors.js';
import type { ClientExtras } from '../provider/client-extras.js';
import { epochSeconds } from '../time.js';
import { sessionNotFound, withinLimit } from './errors.js';
import { afterAuthentication, type AuthMethod } from './factors.js';
import { isThirdParty } from '../../policies/first-party.js';
import type { GrantService } from '../grants/service.js';
import { sessionLifetime } from './lifetime.js';
import type { SessionIndex } from './session-index.js';
import type { IssuedTokens, TokenIssuer, TokenRequest } from './tokens.js';

type Session = InstanceType<Provider['Session']>;

/** Compare-and-set rounds a session write may lose to concurrent writers before giving up (409). */
const COMMIT_ATTEMPTS = 10;

export interface SessionTokens extends IssuedTokens {
  session_id: string;
}

export interface SessionServiceDeps {
  provider: Provider;
  store: Store;
  index: SessionIndex;
  grants: GrantService;
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
  private readonly index: SessionIndex;
  private readonly grants: GrantService;
  private readonly tokens: TokenIssuer;
  private readonly lifetime: ReturnType<typeof sessionLifetime>;
  private readonly perSession: RateLimiter;
  private readonly perClient: RateLimiter;

  constructor({ provider, store, index, grants, tokens, sessionTtl, limits }: SessionServiceDeps) {
    this.provider = provider;
    this.index = index;
    this.grants = grants;
    this.tokens = tokens;
    // a backend sign-in always has an account: the anonymous lifetime never applies here
    this.lifetime = sessionLifetime(sessionTtl, sessionTtl);
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
    const loginTs = epochSeconds();
    session.loginAccount({ accountId: userId, loginTs, ...afterAuthentication(session.amr, method) });
    const tokens = await this.tokens.issue(ctx, client, session, request);
    if (!tokens) throw sessionNotFound();
    if (sessionId) {
      await this.commit(session, client, (stored) => {
        if (stored.accountId !== userId) throw new ApiError(400, 'session_id: the session belongs to another user');
        return { loginTs, ...afterAuthentication(stored.amr as string[] | undefined, method) };
      });
    } else {
      await session.save(this.lifetime(undefined, session));
    }
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
    await this.commit(session, client, () => ({}));
    return { ...tokens, session_id: sessionId };
  }

  /**
   * Ends the session for every app and browser, as RP-initiated logout with `logout=yes` does:
   * every grant registered in it (and their tokens) is revoked, then the session is destroyed.
   * Grants are read from the session's index, not from the record, which concurrent sign-ins
   * save whole and so may have lost some of (lib/sessions/session-index.ts).
   */
  async logout(sessionId: string): Promise<void> {
    const session = await this.find(sessionId);
    await this.index.end(session.jti, session);
  }

  /**
   * Deleting a user: every session of theirs ends, and every grant (browser, backend, third
   * party, offline access included) with all its tokens is revoked.
   */
  async endAllOf(accountId: string): Promise<void> {
    await this.index.endAllOf(accountId);
    await this.grants.revokeAllOfAccount(accountId);
  }

  /**
   * Writes what an authentication in an existing session changed: the client's entry (its sid
   * and grant) and `authentication`'s fields (a sign-in's loginTs, amr, acr). oidc-provider
   * saves a session whole, and a copy read before the tokens were issued would undo what other
   * requests wrote meanwhile (another app's entry, a second factor). So the change is applied to
   * the stored record and written only if that record is still the one read (compare-and-set),
   * read again after a conflict. The expiry stays loginTs + ttl. If the session ended meanwhile,
   * the index undoes the write with its grants, and the caller gets "Session not found".
   */
  private async commit(session: Session, client: Client, authentication: (stored: AdapterPayload) => AdapterPayload): Promise<void> {
    const entry = session.authorizationFor(client.clientId);
    for (let attempt = 1; attempt <= COMMIT_ATTEMPTS; attempt += 1) {
      const stored = await this.index.record(session.uid);
      if (!stored?.jti) {
        // logged out (or expired) since it was read: the grant just used goes with it, and the tokens are never handed out
        if (entry.grantId) await this.grants.revoke(entry.grantId);
        throw sessionNotFound();
      }
      const authorizations = (stored.authorizations ?? {}) as Record<string, object>;
      const next: AdapterPayload = {
        ...stored,
        ...authentication(stored),
        authorizations: { ...authorizations, [client.clientId]: { ...authorizations[client.clientId], sid: entry.sid, grantId: entry.grantId } },
      };
      const ttl = this.lifetime(undefined, next as { accountId?: string; loginTs?: number });
      next.exp = epochSeconds() + ttl;
      const written = await this.index.replace(stored.jti, stored, next, ttl);
      if (written === 'ended') throw sessionNotFound();
      if (written === 'saved') return;
    }
    throw conflict('The session is being changed by other requests; try again');
  }

  /**
   * The signed-in, unexpired session a sid names, if the sid is a first party's. An app that
   * left the session alone (RP-initiated logout without `logout=yes`) no longer holds its sid
   * there, so that sid no longer names it. A third party's sid (released in its ID token) is
   * no session_id: it would hand the user's session to any first-party backend.
   */
  private async find(sessionId: string): Promise<Session> {
    const uid = await this.index.uidOfSid(sessionId);
    const session = uid ? await this.provider.Session.findByUid(uid) : undefined;
    const clientId = session?.accountId
      ? Object.entries(session.authorizations ?? {}).find(([, a]) => a.sid === sessionId)?.[0] : undefined;
    const client = clientId ? await this.provider.Client.find(clientId) : undefined;
    if (!session || !client || isThirdParty(client)) throw sessionNotFound();
    return session;
  }
}
