/** A RunContext for unit tests: no terminal, stderr captured, optionally a cluster client. */
import { PassThrough, Readable } from 'node:stream';
import { makeContext } from '../../src/cli/app.js';
import type { RunContext } from '../../src/cli/context.js';
import type { Kube } from '../../src/kube/client.js';

export function testContext(opts: { interactive?: boolean; signal?: AbortSignal | undefined; kube?: Kube } = {}): { ctx: RunContext; stderr: () => string } {
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (d) => (err += d));
  const base = makeContext(
    {
      stdout: new PassThrough(),
      stderr,
      stdin: Readable.from([]),
      env: {},
      interactive: opts.interactive ?? false,
      host: 'kubectl',
      ...(opts.signal ? { signal: opts.signal } : {}),
    },
    { output: 'table', requestTimeoutMs: 0, verbose: 0, color: false },
  );
  const kube = opts.kube;
  return { ctx: kube ? { ...base, kube: () => kube } : base, stderr: () => err };
}
