import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Files that must not share the machine with other e2e files: the bed's own lifecycle checks and
// the release build of every platform (CPU-bound for minutes on two cores).
const SERIAL_E2E = ['test/e2e/testbed.test.ts', 'test/e2e/packaging.test.ts'];

// The e2e files that take longest, longest first: with two files at a time, starting them first
// keeps one long file from running alone at the end (a clean clone has no timings cached).
const LONGEST_FIRST = ['test/e2e/upgrade-operator-26.test.ts', 'test/e2e/operator.test.ts', 'test/e2e/flush-real.test.ts', 'test/e2e/upgrade-operator.test.ts', 'test/e2e/upgrade-operator-30.test.ts'];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((p) => f.moduleId.endsWith(p));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    // Stable: the base order (project groups, then cached timings) is kept apart from the listed files.
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => a.f.project.config.sequence.groupOrder - b.f.project.config.sequence.groupOrder || rank(a.f) - rank(b.f) || a.i - b.i)
      .map((x) => x.f);
  }
}

export default defineConfig({
  test: {
    // One scratch directory (TMPDIR) for the run, removed at its end.
    globalSetup: ['test/support/run-temp-dir.ts', 'test/support/testbed-notice.ts'],
    sequence: { sequencer: LongestFirst },
    // Three e2e files at a time: they wait on the control plane, the operator and Milvus far more
    // than they compute, and each works in namespaces, ports and servers of its own.
    maxWorkers: 3,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: SERIAL_E2E,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'e2e-serial',
          include: SERIAL_E2E,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
