import { writeSync } from 'node:fs';

interface RunResults { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number }

/** Prints one plain closing line ("tests: N passed, N failed, N skipped") as the very last output, for any CI to read. */
export default class SummaryReporter {
  onRunComplete(_contexts: unknown, results: RunResults): void {
    const line = `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped\n`;
    process.once('exit', () => writeSync(2, line));
  }
}
