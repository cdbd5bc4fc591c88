/**
 * `npm run mutants [id ...]`: plants each mutant of test/mutants/mutants.ts, alone, in a scratch
 * copy of the built repository, runs its tests and reports caught / MISSED / "patch no longer
 * applies". MUTANT_RUNS=n runs each mutant's tests n times (a mutant is caught only if every run
 * fails); each test set first runs once without a mutant and must pass. Exit code 1 when a mutant is missed or no longer applies.
 *
 * The mutated file is transpiled alone (isolatedModules), so one mutant costs its tests only.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { MUTANTS, type Mutant } from './mutants.js';

const root = process.cwd();
const runs = Number(process.env.MUTANT_RUNS ?? 1);
const chosen = process.argv.slice(2);
const mutants = chosen.length ? MUTANTS.filter((m) => chosen.includes(m.id)) : MUTANTS;
if (chosen.length && mutants.length !== chosen.length) {
  console.error(`unknown mutant: ${chosen.filter((id) => !MUTANTS.some((m) => m.id === id)).join(', ')}`);
  process.exit(2);
}

const dist = (source: string) => join('dist', source.replace(/\.ts$/, '.js'));
const occurrences = (text: string, find: string) => text.split(find).length - 1;

/** The built repository without .git; node_modules shared by a symlink. */
function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'idp-mutants-'));
  cpSync(root, dir, { recursive: true, filter: (path) => !/\/(node_modules|\.git)(\/|$)/.test(path.slice(root.length)) });
  symlinkSync(realpathSync(join(root, 'node_modules')), join(dir, 'node_modules'));
  return dir;
}

function transpile(source: string, fileName: string): string {
  return ts.transpileModule(source, {
    fileName,
    compilerOptions: { target: ts.ScriptTarget.ES2023, module: ts.ModuleKind.ESNext, esModuleInterop: true, isolatedModules: true },
  }).outputText;
}

/** Whether the mutant's tests pass; MUTANT_VERBOSE=1 prints the failures. */
function runTests(dir: string, mutant: Mutant): boolean {
  const result = spawnSync(process.execPath, [
    '--experimental-vm-modules', '--experimental-async-context-frame', 'node_modules/jest/bin/jest.js', '--ci', '--silent',
    ...mutant.tests.map(dist), ...(mutant.only ? ['-t', mutant.only] : []),
  ], { cwd: dir, encoding: 'utf8', timeout: 10 * 60_000 });
  if (result.status !== 0 && process.env.MUTANT_VERBOSE) console.log(result.stderr.split('\n').filter((line) => !/^\s+at /.test(line)).join('\n'));
  return result.status === 0;
}

const baselines = new Map<string, boolean>();
function passesUnmutated(dir: string, mutant: Mutant): boolean {
  const key = JSON.stringify([mutant.tests, mutant.only]);
  if (!baselines.has(key)) baselines.set(key, runTests(dir, mutant));
  return baselines.get(key)!;
}

type Outcome = 'caught' | 'MISSED' | 'patch no longer applies' | 'patch is ambiguous' | 'tests fail unmutated';

function plant(dir: string, mutant: Mutant): { outcome: Outcome; detail: string } {
  const sourcePath = join(dir, mutant.file);
  const source = readFileSync(sourcePath, 'utf8');
  const found = occurrences(source, mutant.find);
  if (found === 0) return { outcome: 'patch no longer applies', detail: `text not found in ${mutant.file}` };
  if (found > 1) return { outcome: 'patch is ambiguous', detail: `text found ${found} times in ${mutant.file}` };
  const missingTests = mutant.tests.filter((test) => !existsSync(join(dir, test)));
  if (missingTests.length) return { outcome: 'patch no longer applies', detail: `no such test: ${missingTests.join(', ')}` };
  // a mutant only counts as caught by tests that pass without it
  if (!passesUnmutated(dir, mutant)) return { outcome: 'tests fail unmutated', detail: `${mutant.tests.join(', ')} ${mutant.only ?? ''}` };

  const builtPath = join(dir, dist(mutant.file));
  const built = readFileSync(builtPath, 'utf8');
  writeFileSync(builtPath, transpile(source.replace(mutant.find, mutant.replace), mutant.file));
  try {
    let failed = 0;
    for (let run = 0; run < runs; run += 1) if (!runTests(dir, mutant)) failed += 1;
    return { outcome: failed === runs ? 'caught' : 'MISSED', detail: `tests failed in ${failed} of ${runs} run(s)` };
  } finally {
    writeFileSync(builtPath, built);
  }
}

const dir = scratchCopy();
let bad = 0;
try {
  for (const mutant of mutants) {
    const started = Date.now();
    let result: { outcome: Outcome; detail: string };
    try {
      result = plant(dir, mutant);
    } catch (err) {
      result = { outcome: 'patch no longer applies', detail: (err as Error).message };
    }
    if (result.outcome !== 'caught') bad += 1;
    console.log(`${result.outcome.padEnd(24)} ${mutant.id.padEnd(34)} ${result.detail} (${Math.round((Date.now() - started) / 1000)} s): ${mutant.bug}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${mutants.length - bad} of ${mutants.length} mutants caught`);
process.exit(bad ? 1 : 0);
