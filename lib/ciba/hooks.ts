import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Store } from '../../adapters/store.js';
import type { User, UserService } from '../users/service.js';
import { DeliveryError, type Delivery } from '../delivery/delivery.js';
import type { ClientExtras } from '../provider/client-extras.js';
import { parseRequestContext, type RequestContext } from './request-context.js';
import { authLink } from './link.js';

type CibaFeature = NonNullable<NonNullable<Configuration['features']>['ciba']>;

export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba';
/** Lifetime of a backchannel request without `requested_expiry`, and the longest one granted (seed 002: 600). */
export const MAX_REQUEST_EXPIRY = 600;
/** Links we send to one user (SMS and email together): a client cannot flood a user's phone or mailbox. */
const MESSAGES_PER_USER = { points: 5, duration: 600 };
const EMAIL_SUBJECT = 'Verify it\'s you';
const MAX_HINT_LENGTH = 254;
/** Seed 002: shown on both devices, so short and plain. */
const BINDING_MESSAGE = /^[a-zA-Z0-9-._+/!?#]{1,20}$/;

export interface CibaDeps {
  users: UserService;
  delivery: Delivery;
  store: Store;
}

/** `ttl.BackchannelAuthenticationRequest`: the client's `requested_expiry` (validated by oidc-provider), at most 600 s. */
export function backchannelRequestTtl(ctx: KoaContextWithOIDC | undefined): number {
  const requested = Number(ctx?.oidc?.params?.requested_expiry);
  return Number.isSafeInteger(requested) && requested > 0 ? Math.min(requested, MAX_REQUEST_EXPIRY) : MAX_REQUEST_EXPIRY;
}

/** An OAuth error with its own status (oidc-provider's custom errors are all 400). */
function oauthError(status: number, error: string, description: string): errors.OIDCProviderError {
  const err = new errors.CustomOIDCProviderError(error, description);
  err.status = status;
  err.statusCode = status;
  return err;
}

/** E.164 as stored; a leading `+` that form encoding turned into a space (`curl -d login_hint=+1...`) is put back. */
function phoneNumber(hint: string): string {
  const compact = hint.trim();
  return /^\d+$/.test(compact) ? `+${compact}` : compact;
}

async function userOfHint(users: UserService, hint: string, type: RequestContext['login_hint_type']): Promise<User | undefined> {
  if (hint.length > MAX_HINT_LENGTH) return undefined;
  switch (type) {
    case 'user_id': return users.find(hint);
    case 'email': return users.findBy('email', hint);
    case 'phone': return users.findBy('phone_number', phoneNumber(hint));
  }
}

/** Where the link goes: only to an address the user has verified (seed 003 prerequisites). */
function destinationOf(user: User, channel: 'sms' | 'email'): string {
  const [to, verified, what] = channel === 'sms'
    ? [user.phone_number, user.phone_number_verified, 'phone number']
    : [user.email, user.email_verified, 'email address'];
  // the same answer as for an unknown user: a client learns nothing about who exists
  if (!to || !verified) throw new errors.UnknownUserId(`could not identify an end-user with a verified ${what}`);
  return to;
}

/**
 * `features.ciba` (poll mode): oidc-provider runs the backchannel endpoint and the token
 * grant; these hooks find the user named by `login_hint` per `request_context`, and send the
 * auth link (the client's `ciba_login_uri`) by SMS or email, or hand it back to the client
 * (`channel: link`). The first party's login page completes the request through
 * POST /auth/backchannel/complete (complete.ts).
 */
export function cibaFeature({ users, delivery, store }: CibaDeps): CibaFeature {
  const messages = store.rateLimiter({ name: 'ciba-messages', ...MESSAGES_PER_USER });

  /** Every request counts against the user's quota, whatever the channel (links included). */
  async function withinQuota(ctx: KoaContextWithOIDC, accountId: string): Promise<void> {
    const quota = await messages.consume(accountId);
    if (quota.allowed) return;
    const seconds = Math.ceil(quota.retryAfterMs / 1000);
    ctx.set('Retry-After', String(seconds));
    throw oauthError(429, 'access_denied', `too many authentication requests for this user, try again in ${seconds} seconds`);
  }

  async function send(accountId: string, channel: 'sms' | 'email', text: string): Promise<void> {
    const user = await users.find(accountId);
    if (!user) throw new errors.UnknownUserId('could not identify end-user');
    const to = destinationOf(user, channel);
    await (channel === 'email' ? delivery.email({ to, subject: EMAIL_SUBJECT, text }) : delivery.sms({ to, text }));
  }

  return {
    enabled: true,
    deliveryModes: ['poll'],
    // runs before processLoginHint, which relies on the context being valid
    validateRequestContext: (_ctx, requestContext) => { parseRequestContext(requestContext); },
    processLoginHint: async (ctx, loginHint) => {
      const { login_hint_type: type } = parseRequestContext(ctx.oidc.params?.request_context);
      return loginHint ? (await userOfHint(users, loginHint, type))?.user_id : undefined;
    },
    processLoginHintToken: () => { throw new errors.InvalidRequest('login_hint_token is not supported, use login_hint'); },
    // user_code is not supported (not advertised in discovery): nothing to verify
    verifyUserCode: () => undefined,
    validateBindingMessage: (_ctx, bindingMessage) => {
      if (bindingMessage !== undefined && !BINDING_MESSAGE.test(bindingMessage)) {
        throw new errors.InvalidBindingMessage(`binding_message must be 1 to 20 characters of A-Z a-z 0-9 - . _ + / ! ? # (${BINDING_MESSAGE.source})`);
      }
    },
    triggerAuthenticationDevice: async (ctx, request, account, client) => {
      const context = parseRequestContext(request.params?.request_context);
      // the client metadata carries ciba_login_uri whenever the CIBA grant type is enabled (client-adapter.ts)
      const link = authLink((client as unknown as ClientExtras).ciba_login_uri!, request.jti, request.params?.binding_message);
      try {
        await withinQuota(ctx, account.accountId);
        if (context.channel === 'link') {
          ctx.body = { ...(ctx.body as object), link };
          return;
        }
        await send(account.accountId, context.channel, `${context.custom_message} ${link}`);
      } catch (err) {
        // oidc-provider saved the request before calling this hook: one nobody was told about must not linger
        await request.destroy();
        if (err instanceof DeliveryError) throw oauthError(503, 'temporarily_unavailable', `the auth link could not be sent: ${err.message}`);
        throw err;
      }
    },
  };
}
