/**
 * Bugs planted on purpose, one at a time, in security-critical code (issue 13, "the suite's blind
 * spots"): each must make at least one of its tests fail. `npm run mutants` plants each in a
 * scratch copy and runs its tests (test/mutants/run.ts); it is not part of `npm test`.
 *
 * A mutant is one exact find/replace in one source file. When the code it targets is rewritten,
 * the runner says "patch no longer applies": update `find` to the new code (keeping the bug).
 */
export interface Mutant {
  id: string;
  /** the bug, as a reviewer would describe it */
  bug: string;
  /** source file, relative to the repository root */
  file: string;
  /** exact text that must occur once in the file */
  find: string;
  replace: string;
  /** test files (sources under test/) that must catch it */
  tests: string[];
  /** only the tests whose name matches (jest -t) */
  only?: string;
}

export const MUTANTS: Mutant[] = [
  {
    id: 'consume-read-then-write',
    bug: 'the Redis store consumes a code or token by reading, then writing (two redemptions can both win)',
    file: 'adapters/redis-store.ts',
    find: "const result = await this.redis.oidcConsume(this.key(id), Math.floor(Date.now() / 1000));",
    replace: "const seen = await this.redis.hget(this.key(id), 'c'); if (!(await this.redis.exists(this.key(id)))) throw alreadyConsumed(this.model); await new Promise((r) => setTimeout(r, 5)); if (!seen) await this.redis.hset(this.key(id), 'c', String(Math.floor(Date.now() / 1000))); const result = seen ? 0 : 1;",
    tests: ['test/adapters/contract.test.ts', 'test/resilience/two-instances.test.ts'],
    only: 'concurrent',
  },
  {
    id: 'consent-merge-lost',
    bug: 'a consent approval no longer merges its scopes into the consent already recorded (the loser of a race overwrites it)',
    file: 'lib/consents/service.ts',
    find: 'scopes: [...new Set([...(current?.scopes ?? []), ...input.approved])],',
    replace: 'scopes: [...new Set(input.approved)],',
    tests: ['test/consent/third-party.test.ts'],
    only: 'two browsers approve at once',
  },
  {
    id: 'consent-renewal-keeps-expiry',
    bug: 'a renewed consent keeps its old expiry',
    file: 'lib/consents/service.ts',
    find: 'expires_at: input.expires_at,',
    replace: 'expires_at: current?.expires_at ?? input.expires_at,',
    tests: ['test/consent/third-party.test.ts'],
    only: 'two browsers approve at once',
  },
  {
    id: 'loopback-prefix',
    bug: 'a loopback redirect host matched by prefix (http://localhost.evil.example accepted)',
    file: 'lib/clients/redirect-uris.ts',
    find: 'LOOPBACK_HOSTS.has(url.hostname)',
    replace: '[...LOOPBACK_HOSTS].some((host) => url.hostname.startsWith(host))',
    tests: ['test/clients/client-settings.test.ts'],
    only: 'loopback',
  },
  {
    id: 'retire-secret-without-role-check',
    bug: "retiring a secret of a role-holding client without the role check",
    file: 'lib/applications/routes.ts',
    find: 'ctx.params.secretId!, rolesOfClientHeld(ctx))',
    replace: 'ctx.params.secretId!)',
    tests: ['test/api/roles.test.ts'],
  },
  {
    id: 'rotate-secret-without-role-check',
    bug: "rotating a secret of a role-holding client without the role check (take over an admin client)",
    file: 'lib/applications/routes.ts',
    find: 'clients.rotateSecret(ctx.params.appId!, ctx.params.clientId!, rolesOfClientHeld(ctx))',
    replace: 'clients.rotateSecret(ctx.params.appId!, ctx.params.clientId!)',
    tests: ['test/api/roles.test.ts'],
  },
  {
    id: 'roles-not-held-ignored',
    bug: 'the role check lets any caller assign any role (rolesNotHeld finds nothing missing)',
    file: 'lib/http/permissions.ts',
    find: "return holder.includes('admin') ? [] :",
    replace: 'return true ? [] :',
    tests: ['test/api/roles.test.ts'],
  },
  {
    id: 'bootstrap-application-writable',
    bug: "an app_manager may rename the bootstrap application (its clients' roles not needed for PUT)",
    file: 'lib/applications/routes.ts',
    find: '    await rolesOfAppClientsHeld(ctx, ctx.params.appId!);\n',
    replace: '',
    tests: ['test/api/route-permissions.test.ts'],
  },
  {
    id: 'undeclared-route-allowed',
    bug: 'a route that declares no permission runs for any authenticated caller (fail open)',
    file: 'lib/http/route-access.ts',
    find: 'if (access?.surface !== surface) throw undeclared();',
    replace: 'if (access && access.surface !== surface) throw undeclared();',
    tests: ['test/api/route-permissions.test.ts'],
  },
  {
    id: 'delete-application-keeps-clients',
    bug: "deleting an application leaves its clients working",
    file: 'lib/applications/service.ts',
    find: '    await this.clients.deleteAllOfApp(appId);\n',
    replace: '',
    tests: ['test/api/management.test.ts'],
    only: 'deletes an application',
  },
  {
    id: 'ciba-self-vouch',
    bug: "CIBA: the requesting client may answer its own request with a token it holds for the user",
    file: 'lib/ciba/complete.ts',
    find: "if (token.clientId === request.clientId) throw new ApiError(403, 'Forbidden: the requesting client cannot answer its own request');",
    replace: '',
    tests: ['test/ciba/ciba.test.ts'],
    only: 'requesting client itself',
  },
  {
    id: 'otp-one-try',
    bug: 'a one-time code is void after one wrong try instead of otp.attempts',
    file: 'lib/otp/service.ts',
    find: "points: config.attempts,",
    replace: 'points: 1,',
    tests: ['test/sessions/backend-auth.test.ts'],
    only: 'passcode',
  },
  {
    id: 'locked-attempt-counts',
    bug: 'a locked password attempt still counts on the other limits (an attacker locks the account for everyone)',
    file: 'lib/users/password-guessing.ts',
    find: '    await Promise.all(counted.filter((c) => c.result.allowed).map((c) => c.limiter.refund(c.id)));\n',
    replace: '',
    tests: ['test/sessions/backend-auth.test.ts'],
    only: 'lock',
  },
  {
    id: 'introspect-deleted-client-token',
    bug: "a resource server sees a deleted client's tokens as active",
    file: 'lib/provider/configuration.ts',
    find: " && await ctx.oidc.provider.Client.find(token.clientId!) !== undefined),",
    replace: '),',
    tests: ['test/api/management.test.ts'],
    only: 'deletes an application',
  },
  {
    id: 'introspection-by-third-party',
    bug: "a third party introspects the tenant's own apps' tokens (README: only its own)",
    file: 'lib/provider/configuration.ts',
    find: 'allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId',
    replace: 'allowedPolicy: async (ctx, client, token) => true || token.clientId === client.clientId',
    tests: ['test/consent/third-party.test.ts'],
    only: 'introspect and revoke',
  },
  {
    id: 'revocation-by-any-client',
    bug: "any client revokes any token (README: only the client it was issued to)",
    file: 'lib/provider/configuration.ts',
    find: 'revocation: { enabled: true },',
    replace: 'revocation: { enabled: true, allowedPolicy: async () => true },',
    tests: ['test/consent/third-party.test.ts'],
    only: 'introspect and revoke',
  },
  {
    id: 'native-third-party-not-asked',
    bug: 'a native third party with a stored consent is not asked again (README: asked on every authorization)',
    file: 'policies/index.ts',
    find: '(isThirdParty(ctx.oidc.client) ? native.check(ctx) : Check.NO_NEED_TO_PROMPT)',
    replace: 'Check.NO_NEED_TO_PROMPT',
    tests: ['test/consent/third-party.test.ts'],
    only: 'native third party',
  },
  {
    id: 'sigterm-drops-in-flight',
    bug: 'SIGTERM exits at once, dropping requests in flight',
    file: 'lib/server.ts',
    find: '    server.close(async () => {',
    replace: '    setImmediate(() => process.exit(0));\n    server.close(async () => {',
    tests: ['test/api/server-process.test.ts'],
    only: 'in flight',
  },
  {
    id: 'consent-sweep-timer-off',
    bug: 'the consent expiry sweep never runs on its own',
    file: 'lib/app.ts',
    find: 'consents.sweepExpired().catch(',
    replace: 'Promise.resolve(0).catch(',
    tests: ['test/consent/sweep.test.ts'],
    only: 'timer',
  },
  {
    id: 'consent-sweep-no-lease',
    bug: 'the sweep takes due consents without leasing them (two instances sweep one consent)',
    file: 'adapters/redis-store.ts',
    find: "redis.call('zadd', KEYS[1], 'XX', ARGV[1] + ARGV[3], member)",
    replace: "redis.call('zadd', KEYS[1], 'XX', ARGV[1], member)",
    tests: ['test/consent/sweep.test.ts'],
    only: 'lease',
  },
  {
    id: 'consent-sweep-lease-never-ends',
    bug: "a dead instance's lease never runs out: its consents are never swept",
    file: 'adapters/redis-store.ts',
    find: "redis.call('zadd', KEYS[1], 'XX', ARGV[1] + ARGV[3], member)",
    replace: "redis.call('zadd', KEYS[1], 'XX', '+inf', member)",
    tests: ['test/consent/sweep.test.ts'],
    only: 'lease',
  },
];
