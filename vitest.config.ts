import { defineConfig } from 'vitest/config';

// Files that must not share the machine with other e2e files: the bed's own lifecycle checks and
// the release build of every platform (CPU-bound for minutes on two cores).
const SERIAL_E2E = ['test/e2e/testbed.test.ts', 'test/e2e/packaging.test.ts'];

export default defineConfig({
  test: {
    // Two e2e files at a time: they wait on the control plane, the operator and Milvus far more
    // than they compute, and each works in namespaces, ports and servers of its own.
    maxWorkers: 2,
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
