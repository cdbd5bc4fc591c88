import { createHistogram } from 'node:perf_hooks';
import type { Usage } from './processes.js';
import type { Measurement } from './report.js';

/**
 * What a scenario measured on one target, summed over the time slices it ran: successes with
 * their latency, failures, and the CPU the target's processes (and the machine) used meanwhile.
 */
export class Tally {
  private readonly latencies = createHistogram();
  private completed = 0;
  private errors = 0;
  /** operations that ended after their slice: not counted, but their CPU is in the slice's */
  private late = 0;
  private firstError?: string;
  private seconds = 0;
  private processesMs = 0;
  private hostBusy = 0;
  private hostTotal = 0;
  private readonly sliceRates: number[] = [];

  succeeded(latencyMs: number): void {
    this.completed += 1;
    this.latencies.record(Math.max(1, Math.round(latencyMs * 1000)));
  }

  failed(reason: string): void {
    this.errors += 1;
    this.firstError ??= reason;
  }

  endedLate(): void {
    this.late += 1;
  }

  /** Runs one slice of `seconds` of load, with the CPU used meanwhile. */
  async slice(seconds: number, usage: () => Usage, run: () => Promise<void>): Promise<void> {
    const before = usage();
    const completedBefore = this.completed;
    await run();
    const after = usage();
    this.sliceRates.push((this.completed - completedBefore) / seconds);
    this.seconds += seconds;
    this.processesMs += after.processes - before.processes;
    this.hostBusy += after.hostBusy - before.hostBusy;
    this.hostTotal += after.hostTotal - before.hostTotal;
  }

  measurement(): Measurement {
    const operations = this.completed + this.errors + this.late;
    const ms = (percentile: number) => (this.completed ? this.latencies.percentile(percentile) / 1000 : NaN);
    return {
      rate: this.completed / this.seconds,
      p50: ms(50),
      p99: ms(99),
      errors: this.errors,
      firstError: this.firstError,
      cpuPerOp: operations ? (this.processesMs * 1000) / operations : undefined,
      hostBusy: this.hostTotal ? this.hostBusy / this.hostTotal : undefined,
      sliceRates: [...this.sliceRates],
    };
  }
}
