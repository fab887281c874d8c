/**
 * The first step of both pulsar-upgrade paths: flush through the management API and record in
 * the state that THIS run's flush was verified. The volume-deleting steps refuse to run without it.
 */
import type { RunContext } from '../cli/context.js';
import { failedError } from '../errors.js';
import { milvusCredentials } from '../flush/credentials.js';
import { flushRelease } from '../flush/flush.js';
import type { Step } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';

export interface FlushedState {
  flushVerifiedAt: string | undefined;
  flushedCollections: number;
}

export function flushStep<S extends FlushedState>(ctx: RunContext, release: string, namespace: string, timeoutMs: number, databases: string[] = [], milvusSecret?: string): Step<S> {
  return {
    id: 'flush',
    title: 'Flush all data from Pulsar to object storage and verify it',
    plan: () => [`persist every collection of ${databases.length ? `databases ${databases.join(', ')}` : 'every database'} through the proxy's management API (port 9091), then wait until flushed`],
    async run({ state, log }) {
      const r = await discoverRelease(ctx.kube(), release, namespace);
      // The flush licenses deleting the Pulsar volumes: its scope must be every database Milvus
      // lists (a --database list that leaves one out is refused with exit 7).
      // With authentication on, the databases are listed as the user of --milvus-secret, else of MILVUS_USERNAME/MILVUS_PASSWORD (or MILVUS_TOKEN).
      const credentials = await milvusCredentials(ctx, namespace, milvusSecret);
      const report = await flushRelease(ctx, r, { timeoutMs, requireAllDatabases: true, ...(databases.length ? { databases } : {}), ...(credentials ? { credentials } : {}) });
      if (!report.verified || !report.allDatabases) {
        const why = report.notVerifiedReason ?? (report.allDatabases ? 'not every collection flushed' : `it covered only ${report.databases.join(', ')}, not every database`);
        throw failedError(`the flush was not verified (${why}): nothing was deleted`);
      }
      state.flushVerifiedAt = ctx.now().toISOString();
      state.flushedCollections = report.collections.length;
      log(`${report.collections.length} collection(s) flushed and verified`);
    },
  };
}
