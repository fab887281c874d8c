/**
 * Proof that nobody still writes, right before the stop: a second persist of the same scope must
 * seal nothing. Every segment a persist seals holds rows written since the previous flush, so a
 * collection with a sealed segment now had writers after the verified flush; stopping then would
 * take rows written after this persist with the Pulsar volumes. Refused (exit 7) naming them.
 *
 * Milvus's write quota switch (quotaAndLimits.limitWriting.forceDeny) would block writers instead;
 * switching it means changing the configuration of the running release (and restoring it on
 * failure), which this procedure does not do: it proves quiescence, the other way the safety rule
 * allows, and leaves stopping the writers to the operator.
 */
import type { RunContext } from '../cli/context.js';
import { failedError, preconditionError } from '../errors.js';
import { milvusCredentials } from '../flush/credentials.js';
import { flushRelease, type FlushReport } from '../flush/flush.js';
import { discoverRelease } from '../release/discover.js';

export const WRITERS_WARNING =
  'Milvus will be stopped and its Pulsar v2 volumes deleted. Stop every client that writes to Milvus first: right before the stop a second flush must find nothing new, or the run stops (exit 7) naming the collections still written to.';

export async function proveQuiescence(
  ctx: RunContext,
  where: { release: string; namespace: string; databases: string[]; timeoutMs: number; flushedCollections: number; milvusSecret?: string | undefined },
  log: (m: string) => void,
): Promise<FlushReport> {
  const r = await discoverRelease(ctx.kube(), where.release, where.namespace);
  // The same scope and identity as the flush step: every database Milvus lists.
  const credentials = await milvusCredentials(ctx, where.namespace, where.milvusSecret);
  const report = await flushRelease(ctx, r, {
    timeoutMs: where.timeoutMs,
    requireAllDatabases: true,
    ...(where.databases.length ? { databases: where.databases } : {}),
    ...(credentials ? { credentials } : {}),
  });
  if (!report.verified || !report.allDatabases) {
    throw failedError(`the second flush right before the stop was not verified (${report.notVerifiedReason ?? 'not every collection flushed'}): nothing was stopped`);
  }
  const written = report.collections.filter((c) => c.segments > 0);
  if (written.length > 0) {
    const names = written.map((c) => `${c.database}.${c.collection} (${c.segments} new segment${c.segments === 1 ? '' : 's'})`);
    throw preconditionError(
      `clients still write to Milvus: ${names.join(', ')} received rows after the verified flush; nothing was stopped`,
      'stop every client that writes to these collections, then rerun with --resume (the flush is repeated before the stop)',
    );
  }
  if (report.collections.length !== where.flushedCollections) {
    throw preconditionError(
      `the collections changed after the verified flush (${where.flushedCollections} then, ${report.collections.length} now): a client is still at work; nothing was stopped`,
      'stop every client of Milvus, then rerun with --resume',
    );
  }
  log(`a second flush right before the stop sealed nothing new in ${report.collections.length} collection(s): no writer is left`);
  return report;
}
