import { cpus, totalmem, release, platform } from 'node:os';
import { readFileSync } from 'node:fs';

export interface Measurement {
  /** requests (or round trips) per second that succeeded */
  rate: number;
  /** latency percentiles, ms */
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the processes under test (servers and Redis) per request or round trip, µs */
  cpuPerOp?: number;
  /** share of the whole machine's CPU that was busy (anything running on it) */
  hostBusy?: number;
  /** the first failure, to say what went wrong */
  firstError?: string;
  /** the rate of each slice, in the order the slices ran (one per round of the targets) */
  sliceRates: number[];
}

export interface Row {
  scenario: string;
  target: string;
  measurement: Measurement;
}

export interface Check {
  what: string;
  goal: string;
  measured: string;
  met: boolean;
}

const number = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
const ms = (n: number) => number(n, n < 10 ? 1 : 0);

/** The row's rate relative to `baseline`'s in the same scenario, if that was measured. */
export function ratio(rows: Row[], row: Row, baseline: string): number | undefined {
  const base = rows.find((r) => r.scenario === row.scenario && r.target === baseline);
  return base && base.measurement.rate > 0 ? row.measurement.rate / base.measurement.rate : undefined;
}

/**
 * The ratio round by round: in each round every target ran one slice, one after the other, so
 * a slice and the baseline's slice of the same round met the same machine. Their spread shows
 * how much the machine's own variation moves a ratio.
 */
export function roundRatios(rows: Row[], row: Row, baseline: string): number[] {
  const base = rows.find((r) => r.scenario === row.scenario && r.target === baseline);
  if (!base) return [];
  return row.measurement.sliceRates.map((rate, i) => rate / (base.measurement.sliceRates[i] ?? NaN)).filter(Number.isFinite);
}

export function machine(redisVersion: string): string {
  const cpu = cpus();
  const oidcProvider = JSON.parse(readFileSync(new URL('../../node_modules/oidc-provider/package.json', import.meta.url), 'utf8')).version;
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${platform()} ${release()}; `
    + `Node.js ${process.version}, redis-server ${redisVersion}, oidc-provider ${oidcProvider}`;
}

export function markdown(input: {
  rows: Row[]; checks: Check[]; baseline: string; machine: string; setup: string; notes: string[];
}): string {
  const lines = [
    `Machine: ${input.machine}. ${input.setup}`,
    '',
    `| scenario | target | req/s | p50 ms | p99 ms | errors | × bare | CPU µs/op | host busy |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of input.rows) {
    const m = row.measurement;
    const r = ratio(input.rows, row, input.baseline);
    lines.push(`| ${row.scenario} | ${row.target} | ${number(m.rate)} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.errors} | ${r === undefined ? '–' : `${number(r, 2)}×`} | ${number(m.cpuPerOp ?? NaN)} | ${m.hostBusy === undefined ? '–' : `${number(m.hostBusy * 100)}%`} |`);
  }
  lines.push('', '| target | goal | measured | |', '| --- | --- | --- | --- |');
  for (const check of input.checks) lines.push(`| ${check.what} | ${check.goal} | ${check.measured} | ${check.met ? 'met' : '**missed**'} |`);
  lines.push('', ...input.notes.map((note) => `- ${note}`));
  return `${lines.join('\n')}\n`;
}
