/**
 * A vitest reporter for CI: the counts, then every failure in one line each (file, test or
 * suite, the error's first lines), printed last, so that a log cut down to its end still says
 * why the run failed. Errors in beforeAll/afterAll hooks are included: the JSON reporter drops
 * them, and the default one prints them far from the end.
 */
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

const ANSI = /\x1b\[[0-9;]*m/g;

export function firstLines(e: Pick<SerializedError, 'message'>, n = 3): string {
  const text = (e.message ?? '').replace(ANSI, '');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, n)
    .join(' | ');
}

export function failureLines(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): { counts: string; failures: string[] } {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures: string[] = [];
  for (const m of modules) {
    const file = m.relativeModuleId;
    for (const e of m.errors()) failures.push(`FAILED ${file}: ${firstLines(e)}`);
    for (const s of m.children.allSuites()) for (const e of s.errors()) failures.push(`FAILED ${file} > ${s.fullName}: ${firstLines(e)}`);
    for (const t of m.children.allTests()) {
      const r = t.result();
      if (r.state === 'passed') passed++;
      else if (r.state === 'failed') {
        failed++;
        for (const e of r.errors ?? []) failures.push(`FAILED ${file} > ${t.fullName}: ${firstLines(e)}`);
      } else skipped++;
    }
  }
  for (const e of unhandled) failures.push(`FAILED (unhandled): ${firstLines(e)}`);
  return { counts: `${passed} passed, ${failed} failed, ${skipped} skipped`, failures };
}

export default class FailureSummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): void {
    const { counts, failures } = failureLines(modules, unhandled);
    process.stdout.write(['', `== tests: ${counts}`, ...failures, ''].join('\n'));
  }
}
