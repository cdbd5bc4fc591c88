import Koa from 'koa';
import mount from 'koa-mount';
import compose from 'koa-compose';
import { koaBody } from 'koa-body';
import Provider from 'oidc-provider';
import { createStore, type Store } from '../adapters/index.js';
import type { Config } from './config.js';
import { createLogger, requestLog, type Logger } from './logger.js';
import { jsonErrors } from './http/errors.js';
import { healthRoutes } from './http/health.js';
import { requireRole } from './http/admin-auth.js';
import { SEED_PREFIX } from './http/prefix.js';
import { SecretHasher } from './clients/secrets.js';
import { ClientService } from './clients/service.js';
import { ApplicationService } from './applications/service.js';
import { applicationRoutes } from './applications/routes.js';
import { UserService } from './users/service.js';
import { userRoutes } from './users/routes.js';
import { providerConfiguration } from './provider/configuration.js';
import { clientAdapter, type ClientExtras } from './provider/client-adapter.js';
import { accountFinder } from './provider/account.js';
import { loadCookieKeys, loadSigningKeys } from './provider/keys.js';
import { interactionRoutes } from '../interactions/routes.js';
import { renderPage } from '../views/layout.js';
import { errorView } from '../views/messages.js';

/** Application that owns the bootstrap management client. */
export const MANAGEMENT_APP_ID = 'management';
/** Only for development: production refuses to start without IDP_CONFIG.clientSecretHashKey. */
const DEVELOPMENT_SECRET_HASH_KEY = 'development-only-client-secret-hash-key';

export interface Idp {
  app: Koa;
  provider: Provider;
  store: Store;
  users: UserService;
  clients: ClientService;
  apps: ApplicationService;
  logger: Logger;
  close(): Promise<void>;
}

/** Renders failures of the HTML pages as a page, never a stack trace. */
function htmlErrors(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const status = (err as { status?: number }).status;
      ctx.status = status && status >= 400 && status < 500 ? status : 500;
      if (ctx.status === 500) logger.error({ err: { message: (err as Error).message } }, 'page failed');
      const page = renderPage({ title: 'Error', body: errorView('Something went wrong', 'Return to the application and try again.') });
      ctx.set(page.headers);
      ctx.type = 'html';
      ctx.body = page.html;
    }
  };
}

/** Wires the store, the services, oidc-provider and our routes into one Koa app. */
export async function createIdp(config: Config, options: { store?: Store; logger?: Logger } = {}): Promise<Idp> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = options.store ?? createStore(config.redisUrl, config.redisKeyPrefix);
  const hasher = new SecretHasher(config.clientSecretHashKey ?? DEVELOPMENT_SECRET_HASH_KEY);
  const users = new UserService(store);
  const clients = new ClientService(store, hasher, config.scopes, config.ttl);
  const apps = new ApplicationService(store, clients);
  await clients.start();

  const [jwks, cookieKeys] = await Promise.all([loadSigningKeys(store), loadCookieKeys(store, config.cookieKeys)]);
  const clientModel = clientAdapter(clients);
  const provider = new Provider(config.issuer, providerConfiguration({
    config,
    adapter: (model) => (model === 'Client' ? clientModel : store.oidcAdapter(model)),
    findAccount: accountFinder(users),
    jwks,
    cookieKeys,
  }));
  provider.proxy = true;
  // secrets are kept as HMAC digests; compare the presented one against every active digest
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: ClientExtras, actual: string) {
    return hasher.matches(actual, this.secret_digests ?? []);
  };
  provider.on('server_error', (_ctx, err) => logger.error({ err: { name: err.name, message: err.message } }, 'oidc-provider error'));

  if (config.adminClient) {
    if (!(await apps.find(MANAGEMENT_APP_ID))) await apps.create({ name: 'IdP management' }, MANAGEMENT_APP_ID);
    await clients.ensureManagementClient(MANAGEMENT_APP_ID, config.adminClient.clientId, config.adminClient.clientSecret);
  }

  const api = compose<Koa.Context>([
    jsonErrors(logger),
    koaBody({ json: true, urlencoded: false, multipart: false, jsonLimit: '64kb', jsonStrict: true }),
    requireRole(provider, clients, 'admin'),
    userRoutes(users).routes(),
    applicationRoutes(apps, clients).routes(),
  ] as Koa.Middleware[]);
  const pages = compose<Koa.Context>([
    htmlErrors(logger),
    interactionRoutes({ provider, users, csrfKey: cookieKeys[0]!, uiLocales: config.uiLocales }).routes(),
  ] as Koa.Middleware[]);
  const health = healthRoutes(store).routes();

  const inner = new Koa();
  inner.use(health);
  inner.use((ctx, next) => (ctx.path === '/v1' || ctx.path.startsWith('/v1/') ? api(ctx, next) : next()));
  inner.use((ctx, next) => (ctx.path.startsWith('/interaction/') ? pages(ctx, next) : next()));
  inner.use(mount('/oidc', provider));

  const app = new Koa();
  app.proxy = true;
  // the provider runs on this app's context when mounted, so its signed cookies use these keys
  app.keys = cookieKeys;
  app.use(requestLog(logger));
  // oidc-provider derives its mount path (and so every URL it builds) from req.originalUrl
  app.use((ctx, next) => {
    (ctx.req as { originalUrl?: string }).originalUrl = ctx.originalUrl;
    return next();
  });
  app.use(mount(SEED_PREFIX, inner));
  app.use(mount(inner));

  return {
    app, provider, store, users, clients, apps, logger,
    close: () => store.close(),
  };
}
