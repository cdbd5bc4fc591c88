/** Prints, after jest's own summary (stderr, like it), one plain closing line ("tests: N passed, N failed, N skipped") that any CI can read. */
export default class SummaryReporter {
  onRunComplete(_contexts: unknown, results: { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number }): void {
    process.stderr.write(`tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped\n`);
  }
}
