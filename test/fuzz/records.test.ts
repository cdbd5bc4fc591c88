import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { api, clientCredentialsToken } from '../support/idp.js';
import { startFuzzTarget, type FuzzTarget } from './target.js';
import { runsOf, timeoutOf } from './groups.js';

/** One change sent at once with the others of its batch, to one user. */
type Op = { kind: 'sign-in' } | { kind: 'password' } | { kind: 'name' } | { kind: 'delete' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'sign-in' as const }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'password' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'name' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'delete' as const }), weight: 1 },
);

/**
 * Issue 13: no record is resurrected or reverted after a successful write or delete. Each
 * run sends a batch of password sign-ins, password changes, profile changes and deletions of
 * one fresh user at once (the server process on its own Redis), then checks the user as the
 * answers said it must be: a 204 keeps it gone; otherwise exactly one password works, and it
 * and the profile are what one of the answered changes set, never the values from before.
 */
describe('fuzzing concurrent changes of a user record', () => {
  let target: FuzzTarget;
  let appToken: string;
  let batch = 0;

  beforeAll(async () => {
    target = await startFuzzTarget();
    const t = target.idp;
    const app = await api(t, 'POST', '/v1/applications', { name: 'Records' });
    const client = await api(t, 'POST', `/v1/applications/${app.body.app_id}/clients`, { name: 'Backend', redirect_uris: ['http://localhost:8080/cb'] });
    appToken = await clientCredentialsToken(t.issuer, client.body.client_id, client.body.client_secret);
  });
  afterAll(() => target?.close());

  it('never resurrects a deleted user nor reverts a change that was answered', async () => {
    const t = target.idp;
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 6 }), async (ops) => {
      batch += 1;
      const email = `records-${batch}-${Date.now()}@example.com`;
      const original = { password: `original password ${batch}`, name: 'Original' };
      const created = await api(t, 'POST', '/v1/users', { email, password: original.password, given_name: original.name });
      expect(created.status).toBe(201);
      const path = `/v1/users/${created.body.user_id}`;
      const signIn = (password: string) => api(t, 'POST', '/v1/auth/password/authenticate', { identifier: email, password }, appToken);
      // each change sets a value of its own, so the outcome names the change it came from
      const values = ops.map((o, i) => (o.kind === 'password' ? `new password ${batch}.${i}` : `Name ${i}`));
      const answers = await Promise.all(ops.map((o, i) => {
        switch (o.kind) {
          case 'sign-in': return signIn(original.password);
          case 'password': return api(t, 'PUT', path, { password: values[i] });
          case 'name': return api(t, 'PUT', path, { given_name: values[i] });
          case 'delete': return api(t, 'DELETE', path);
        }
      }));
      const statuses = (kind: Op['kind']) => answers.filter((_, i) => ops[i]!.kind === kind).map((a) => a.status);
      const answered = (kind: 'password' | 'name') => values.filter((_, i) => ops[i]!.kind === kind && answers[i]!.status === 200);

      // one deletion wins; every other request answers as before or after it, never 5xx
      const deletions = statuses('delete');
      expect(deletions.filter((s) => s === 204)).toHaveLength(Math.min(1, deletions.length));
      const deleted = deletions.length > 0;
      for (const status of [...deletions, ...statuses('password'), ...statuses('name'), ...statuses('sign-in')]) {
        expect([200, 204, 400, 404]).toContain(status);
      }

      const after = await api(t, 'GET', path);
      expect(after.status).toBe(deleted ? 404 : 200);
      // the profile holds the value of one answered change (the original only if none was answered)
      const names = answered('name');
      expect(deleted ? [undefined] : names.length ? names : [original.name]).toContain(after.body?.given_name);
      // exactly one password works, and it is one an answered change set (never the one it replaced)
      const passwords = answered('password');
      const candidates = [original.password, ...values.filter((_, i) => ops[i]!.kind === 'password')];
      const working = [];
      for (const password of candidates) if ((await signIn(password)).status === 200) working.push(password);
      expect(working).toHaveLength(deleted ? 0 : 1);
      expect(passwords.length ? passwords : [original.password]).toEqual(expect.arrayContaining(working));
    }), { numRuns: runsOf('records'), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined, endOnFailure: true });
  }, timeoutOf('records') + runsOf('records') * 2_000);
});
