import Koa from 'koa';
import type Router from '@koa/router';
import mount from 'koa-mount';
import compose from 'koa-compose';
import Provider from 'oidc-provider';
import { createStore, type Store } from '../adapters/index.js';
import type { Config } from './config.js';
import { createLogger, requestLog, throttledWarning, unhandledRequestError, type Logger } from './logger.js';
import { ApiError, isStoreUnavailable, jsonErrors } from './http/errors.js';
import { healthRoutes } from './http/health.js';
import { isUsableOrigin, refuseUnusableOrigin } from './http/request-origin.js';
import { jsonBody, refuseEncodedOAuthBody } from './http/body.js';
import { requireManagementPermission } from './http/admin-auth.js';
import { pathPrefix, SEED_PREFIX } from './http/prefix.js';
import { asDiscoveryRequest } from './http/well-known.js';
import { SecretHasher } from './clients/secrets.js';
import { ClientService } from './clients/service.js';
import { ApplicationService } from './applications/service.js';
import { applicationRoutes } from './applications/routes.js';
import { ResourceService } from './resources/service.js';
import { resourceRoutes } from './resources/routes.js';
import { grantableResources } from './resources/indicators.js';
import { UserService } from './users/service.js';
import { userRoutes } from './users/routes.js';
import { providerConfiguration } from './provider/configuration.js';
import { clientAdapter, memoizeClientInstances, toProviderMetadata } from './provider/client-adapter.js';
import type { ClientExtras } from './provider/client-extras.js';
import { accountFinder } from './provider/account.js';
import { loadCookieKeys, loadSigningKeys } from './provider/keys.js';
import { sameSitePerClient } from './provider/same-site.js';
import { pollInterval } from './provider/poll-interval.js';
import { storeOutageAnswers } from './provider/store-outage.js';
import { deviceFlow } from './device/index.js';
import { keepExpiredPolledRequests } from '../adapters/keep-expired.js';
import { refreshTokenGrace } from './provider/refresh-grace.js';
import { prefetchedGrants, withGrantPrefetch } from './provider/grant-prefetch.js';
import { revokingLostConsumes } from './provider/reuse-revokes.js';
import { ConsentService } from './consents/service.js';
import { createDelivery, type Delivery } from './delivery/delivery.js';
import { DeliveryQueue } from './delivery/queue.js';
import { ConsentRequests } from './consents/requests.js';
import { consentCallbackRoutes, CONSENT_CALLBACK_PATH } from './consents/callback.js';
import { consentRoutes, myConsentRoutes } from './consents/routes.js';
import { requireUserToken } from './http/user-auth.js';
import { areaOf, BACKEND_AUTH_AREA } from './http/permissions.js';
import { onlyDeclaredRoutes } from './http/route-access.js';
import { SessionIndex } from './sessions/session-index.js';
import { endIndexedSessionAtLogout } from './sessions/browser-logout.js';
import { GrantService } from './grants/service.js';
import { clientTokenRoutes } from './grants/routes.js';
import { TokenIssuer } from './sessions/tokens.js';
import { SessionService } from './sessions/service.js';
import { requireAppClient } from './sessions/app-client.js';
import { sessionRoutes } from './sessions/routes.js';
import { OtpService } from './otp/service.js';
import { otpRoutes } from './otp/routes.js';
import { cibaFeature } from './ciba/hooks.js';
import { cibaCompleteRoutes, CIBA_COMPLETE_PATH } from './ciba/complete.js';
import { interactionRoutes } from '../interactions/routes.js';
import { ThirdPartyConsent } from '../interactions/third-party-consent.js';
import { renderPage } from '../views/layout.js';
import { errorView } from '../views/messages.js';

/** Application that owns the bootstrap management client. */
export const MANAGEMENT_APP_ID = 'management';
/** Only for development: production refuses to start without IDP_CONFIG.clientSecretHashKey. */
const DEVELOPMENT_SECRET_HASH_KEY = 'development-only-client-secret-hash-key';
/** TLS-terminating proxies in front of the IdP (the README's deployment): one. */
const TRUSTED_PROXY_HOPS = 1;
/** Device flow and CIBA poll mode: the interval clients must wait between token requests. */
const POLL_INTERVAL_SECONDS = 5;
/** How often each instance looks for expired consents (to remove them and write their receipts). */
const CONSENT_SWEEP_INTERVAL_MS = 60_000;
/** On shutdown, how long messages being sent may take (within the server's shutdown grace). */
const DELIVERY_DRAIN_MS = 3_000;

export interface Idp {
  app: Koa;
  provider: Provider;
  store: Store;
  users: UserService;
  clients: ClientService;
  apps: ApplicationService;
  resources: ResourceService;
  consents: ConsentService;
  delivery: Delivery;
  logger: Logger;
  /** the /v1 routers of each surface, whose routes declare their access (lib/http/route-access.ts) */
  routers: Record<'management' | 'backendAuth' | 'selfService', Router[]>;
  close(): Promise<void>;
}

/** Renders failures of the HTML pages as a page, never a stack trace. */
function htmlErrors(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const { status, expose } = err as { status?: number; expose?: boolean };
      ctx.status = status && status >= 400 && status < 500 ? status : isStoreUnavailable(err) ? 503 : 500;
      if (ctx.status >= 500) logger.error({ err: { message: (err as Error).message } }, 'page failed');
      if (ctx.status === 503) ctx.set('Retry-After', '1');
      // a refused form body (BodyError) says what was wrong with it
      const view = ctx.status < 500 && expose
        ? errorView('This request could not be read', (err as Error).message)
        : errorView('Something went wrong', 'Return to the application and try again.');
      const page = renderPage({ title: 'Error', body: view });
      ctx.set(page.headers);
      ctx.type = 'html';
      ctx.body = page.html;
    }
  };
}

/** Wires the store, the services, oidc-provider and our routes into one Koa app. */
export async function createIdp(config: Config, options: { store?: Store; logger?: Logger; consentSweepIntervalMs?: number } = {}): Promise<Idp> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = options.store ?? createStore(config.redis, config.redisKeyPrefix, throttledWarning(logger, 'Redis connection error'));
  const hasher = new SecretHasher(config.clientSecretHashKey ?? DEVELOPMENT_SECRET_HASH_KEY);
  const users = new UserService(store);
  const clients = new ClientService(store, hasher, config.scopes, config.ttl);
  const apps = new ApplicationService(store, clients);
  const resources = new ResourceService(store, clients, config.scopes, config.ttl);
  const consents = new ConsentService(store, config.ttl.consentReceipt);
  const delivery = createDelivery(config.delivery, logger);
  // the queue retries on its own: its SMS client makes one try per message attempt
  const deliveryQueue = new DeliveryQueue(
    createDelivery({ ...config.delivery, smsAttempts: 1 }, logger), logger, config.clientSecretHashKey ?? DEVELOPMENT_SECRET_HASH_KEY,
  );
  const consentRequests = new ConsentRequests(store);
  const grants = new GrantService(store);
  const sessionIndex = new SessionIndex(store, grants, config.ttl.session);
  await users.start();
  await clients.start();
  await resources.start();

  const [jwks, cookieKeys] = await Promise.all([loadSigningKeys(store), loadCookieKeys(store, config.cookieKeys)]);
  const clientModel = clientAdapter(clients, resources);
  const device = deviceFlow(store);
  const findAccount = accountFinder({ users, apps, tenantId: config.tenantId });
  // grants (indexed by account and client, GrantService) found along with the token that names them
  const grantModel = prefetchedGrants(store.oidcAdapter('Grant'));
  const revokeGrant = (grantId: string) => grants.revoke(grantId);
  const provider = new Provider(config.issuer, providerConfiguration({
    config,
    adapter: (model) => {
      if (model === 'Client') return clientModel;
      // sessions indexed by sid (session_id of /v1/auth), grants and account
      if (model === 'Session') return sessionIndex.adapter();
      // a just-rotated refresh token yields a sibling for the client's reuse interval; its
      // Grant is read along with it
      if (model === 'RefreshToken') return refreshTokenGrace(withGrantPrefetch(store.oidcAdapter(model)), revokeGrant);
      if (model === 'Grant') return grantModel;
      // a code redeemed twice at once is a reuse: the loser revokes the grant
      if (model === 'AuthorizationCode') return revokingLostConsumes(withGrantPrefetch(store.oidcAdapter(model)), revokeGrant);
      // expired device codes and backchannel requests stay readable: pollers learn expired_token;
      // one redeemed by two polls at once is a reuse, as a code is
      if (model === 'DeviceCode' || model === 'BackchannelAuthenticationRequest') {
        return keepExpiredPolledRequests(model, revokingLostConsumes(store.oidcAdapter(model), revokeGrant));
      }
      return store.oidcAdapter(model);
    },
    findAccount,
    jwks,
    cookieKeys,
    consents,
    deviceFlow: device.feature,
    ciba: cibaFeature({ users, delivery, store }),
  }));
  provider.proxy = true;
  memoizeClientInstances(provider, clientModel);
  provider.maxIpsCount = TRUSTED_PROXY_HOPS;
  provider.use(storeOutageAnswers(provider));
  provider.use(refuseEncodedOAuthBody());
  provider.use(sameSitePerClient(config.publicUrl.startsWith('https://')));
  provider.use(pollInterval(store, POLL_INTERVAL_SECONDS));
  provider.use(device.middleware);
  provider.use(endIndexedSessionAtLogout(sessionIndex));
  clients.checkMetadataWith(async (record) => {
    try {
      await provider.Client.validate(toProviderMetadata(record, await grantableResources(resources, record)));
    } catch (err) {
      const described = err as { error_description?: string; message: string };
      throw new ApiError(400, described.error_description ?? described.message);
    }
  });
  // secrets are kept as HMAC digests; compare the presented one against every active digest
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: ClientExtras, actual: string) {
    return hasher.matches(actual, this.secret_digests ?? []);
  };
  provider.on('server_error', (_ctx, err) => logger.error({ err: { name: err.name, message: err.message } }, 'oidc-provider error'));

  if (config.adminClient) {
    if (!(await apps.find(MANAGEMENT_APP_ID))) await apps.create({ name: 'IdP management' }, MANAGEMENT_APP_ID);
    await clients.ensureManagementClient(MANAGEMENT_APP_ID, config.adminClient.clientId, config.adminClient.clientSecret);
  }

  const sessions = new SessionService({
    provider, store, index: sessionIndex, grants, tokens: new TokenIssuer(provider, findAccount),
    sessionTtl: config.ttl.session, limits: config.silentAuthLimit,
  });
  const routers = {
    selfService: [myConsentRoutes(consents)],
    management: [
      userRoutes(users, consents, sessions),
      applicationRoutes(apps, clients, resources, consents),
      clientTokenRoutes(clients, grants),
      resourceRoutes(apps, resources),
      consentRoutes(consents, consentRequests),
    ],
    backendAuth: [
      sessionRoutes(sessions, users),
      otpRoutes(new OtpService(store, users, deliveryQueue, config.otp), sessions, config.otp.ttl),
    ],
  };
  const selfService = compose<Koa.Context>([
    requireUserToken(provider),
    onlyDeclaredRoutes(routers.selfService, 'self-service'),
    ...routers.selfService.map((router) => router.routes()),
  ] as Koa.Middleware[]);
  const management = compose<Koa.Context>([
    requireManagementPermission(provider, clients, routers.management),
    ...routers.management.map((router) => router.routes()),
  ] as Koa.Middleware[]);
  const backendAuth = compose<Koa.Context>([
    requireAppClient(provider, clients),
    onlyDeclaredRoutes(routers.backendAuth, 'backend-auth'),
    ...routers.backendAuth.map((router) => router.routes()),
  ] as Koa.Middleware[]);
  const api = compose<Koa.Context>([
    jsonErrors(logger),
    jsonBody(),
    (ctx, next) => {
      if (ctx.path === '/v1/me' || ctx.path.startsWith('/v1/me/')) return selfService(ctx, next);
      if (areaOf(ctx.path) === BACKEND_AUTH_AREA) return backendAuth(ctx, next);
      return management(ctx, next);
    },
  ] as Koa.Middleware[]);
  const thirdPartyConsent = new ThirdPartyConsent({
    provider, consents, requests: consentRequests, scopes: config.scopes, defaultConsentTtl: config.ttl.consent,
  });
  const pages = compose<Koa.Context>([
    htmlErrors(logger),
    interactionRoutes({ provider, users, csrfKey: cookieKeys[0]!, uiLocales: config.uiLocales, thirdPartyConsent }).routes(),
    consentCallbackRoutes({ requests: consentRequests, clients, publicUrl: config.publicUrl }).routes(),
  ] as Koa.Middleware[]);
  const backchannelComplete = compose<Koa.Context>([
    jsonErrors(logger),
    jsonBody(),
    requireUserToken(provider),
    cibaCompleteRoutes({ provider, store }).routes(),
  ] as Koa.Middleware[]);
  const health = healthRoutes(store).routes() as Koa.Middleware;
  const oidc = mount('/oidc', provider);

  // one synchronous decision per request: every async layer a request passes costs promises
  // (and async-hook work), which shows on the token endpoint's throughput
  const inner = new Koa();
  inner.use((ctx, next) => {
    const { path } = ctx;
    if (path === '/healthz' || path === '/readyz') return health(ctx, next);
    if (!isUsableOrigin(ctx.protocol, ctx.host)) return refuseUnusableOrigin(ctx);
    if (path.startsWith('/oidc/') || path === '/oidc') return oidc(ctx, next);
    if (path === '/v1' || path.startsWith('/v1/')) return api(ctx, next);
    if (path.startsWith('/interaction/') || path === CONSENT_CALLBACK_PATH) return pages(ctx, next);
    if (path === CIBA_COMPLETE_PATH) return backchannelComplete(ctx, next);
    return next();
  });

  const app = new Koa();
  app.proxy = true;
  // the client address is the one our proxy appended to X-Forwarded-For, not one the caller wrote
  app.maxIpsCount = TRUSTED_PROXY_HOPS;
  // the provider runs on this app's context when mounted, so its signed cookies use these keys
  app.keys = cookieKeys;
  app.on('error', unhandledRequestError(logger));
  app.use(requestLog(logger));
  // oidc-provider derives its mount path (and so every URL it builds) from req.originalUrl;
  // the RFC 8414 metadata path is taken as the discovery document's
  app.use((ctx, next) => {
    asDiscoveryRequest(ctx);
    (ctx.req as { originalUrl?: string }).originalUrl = ctx.originalUrl;
    return next();
  });
  const seedPrefixed = mount(SEED_PREFIX, inner);
  const unprefixed = mount(inner);
  app.use((ctx, next) => (pathPrefix(ctx.path) ? seedPrefixed : unprefixed)(ctx, next));

  const sweep = setInterval(() => {
    consents.sweepExpired().catch((err: Error) => logger.warn({ err: { message: err.message } }, 'consent expiry sweep failed'));
  }, options.consentSweepIntervalMs ?? CONSENT_SWEEP_INTERVAL_MS).unref();

  return {
    app, provider, store, users, clients, apps, resources, consents, delivery, logger, routers,
    close: async () => {
      clearInterval(sweep);
      await deliveryQueue.drain(DELIVERY_DRAIN_MS);
      await store.close();
    },
  };
}
