import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.js';
import { createIdp } from './app.js';
import { createListener } from './listen.js';
import { describeDemoData, seedDemoData } from './demo.js';
import { missingNodeFlags } from './runtime.js';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const idp = await createIdp(config);
  const missing = missingNodeFlags();
  if (missing.length) idp.logger.warn({ missing }, 'started without the recommended Node.js flags: every request costs more CPU (see README, The two commands)');
  if (!config.production) {
    const demo = await seedDemoData(idp, config);
    if (demo) process.stdout.write(describeDemoData(demo, config.issuer));
    else idp.logger.info('demo data already present in the store (its secrets were printed when it was created)');
  }

  const server: Server = createListener(idp.app, config).listen(config.port, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    idp.logger.info({ port, issuer: config.issuer, store: idp.store.kind }, 'listening');
  });
  server.keepAliveTimeout = 65_000;

  const shutdown = (signal: string) => {
    idp.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    server.close(async () => {
      await idp.close();
      clearTimeout(force);
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: Error) => {
  process.stderr.write(`failed to start: ${err.message}\n`);
  process.exit(1);
});
