import { defineCommand, parseDuration, RELEASE_ARG, validateReleaseName } from '../cli/command.js';
import type { RunContext } from '../cli/context.js';
import { failedError, usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import type { FlushProgress, FlushReport } from '../flush/flush.js';

const list = (v: string | string[] | undefined) =>
  (Array.isArray(v) ? v : v ? [v] : []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);

const SCOPE_TEXT: Record<FlushReport['scope'], string> = {
  'all-databases': 'every database',
  'no-databases-before-2.2.9': 'the only database (Milvus < 2.2.9)',
  selected: 'the selected databases/collections',
  partial: 'the selected databases; Milvus has more',
};

export function renderFlushReport(r: FlushReport): string {
  let out = '';
  if (r.collections.length > 0) {
    out += formatTable(
      ['DATABASE', 'COLLECTION', 'SEGMENTS', 'STATE', 'ELAPSED'],
      r.collections.map((c) => [c.database, c.collection, c.segments, c.state, elapsed(c.elapsedMs)]),
    );
    out += '\n';
  } else {
    out += 'No collections.\n\n';
  }
  const segs = r.collections.reduce((n, c) => n + c.segments, 0);
  const flushed = r.collections.filter((c) => c.state === 'Flushed').length;
  const dropped = r.collections.filter((c) => c.state === 'Dropped').length;
  out +=
    `${r.verified ? 'Flushed and verified' : 'NOT verified'}: ${flushed}/${r.collections.length} collection(s) flushed` +
    `${dropped ? ` and ${dropped} dropped during the flush (nothing left to lose)` : ''} in ${r.databases.length} database(s) ` +
    `(${SCOPE_TEXT[r.scope]}), ${segs} segment(s) sealed by this flush, in ${elapsed(r.elapsedMs)} via ${r.endpoint}.\n`;
  if (r.notCovered?.length) out += `Not covered: database(s) ${r.notCovered.join(', ')}.\n`;
  if (r.notVerifiedReason) out += `Reason: ${r.notVerifiedReason}.\n`;
  return out;
}

function printReport(ctx: RunContext, report: FlushReport): void {
  if (!printDocument(ctx, report)) ctx.print(renderFlushReport(report));
}

/** Progress on stderr: one redrawn line on a terminal, plain lines otherwise. */
export function progressPrinter(ctx: RunContext) {
  let drawn = false;
  let lastPlain = 0;
  const summary = (p: FlushProgress) =>
    `${p.collectionsFlushed}/${p.collectionsTotal} collections, ${p.segmentsFlushed}/${p.segmentsTotal} segments flushed, ${elapsed(p.elapsedMs)}`;
  const clear = () => {
    if (drawn) ctx.stderr.write('\r\u001b[2K');
    drawn = false;
  };
  const onProgress = (p: FlushProgress) => {
    if (p.finished?.state === 'Failed') {
      clear();
      ctx.log.warn(`${p.finished.database}.${p.finished.collection} failed: ${p.finished.error ?? 'unknown error'}`);
    }
    if (p.finished?.state === 'Dropped') {
      clear();
      ctx.log.warn(`${p.finished.database}.${p.finished.collection} was dropped during the flush: nothing of it is left to lose`);
    }
    if (ctx.interactive) {
      if (p.phase === 'done') return clear();
      clear();
      ctx.stderr.write(p.phase === 'persisting' ? `Persisting database "${p.database}"...` : `Flushing: ${summary(p)}`);
      drawn = true;
      return;
    }
    if (p.phase === 'persisting') ctx.log.info(`persisting database "${p.database}"`);
    else if (p.finished?.state === 'Flushed') {
      ctx.log.info(`flushed ${p.finished.database}.${p.finished.collection} (${p.finished.segments} segments) after ${elapsed(p.finished.elapsedMs)}`);
    } else if (p.phase === 'waiting' && lastPlain === 0) {
      ctx.log.info(`waiting for ${p.segmentsTotal} sealed segment(s) of ${p.collectionsTotal - p.collectionsFlushed} collection(s) to be flushed`);
      lastPlain = Math.max(p.elapsedMs, 1);
    } else if (p.phase === 'waiting' && p.elapsedMs - lastPlain >= 30_000) {
      ctx.log.info(`still flushing: ${summary(p)}`);
      lastPlain = p.elapsedMs;
    }
  };
  return { onProgress, finish: clear };
}

/** The Milvus user of every command that flushes (flush, pulsar-upgrade, upgrade). */
export const MILVUS_SECRET_FLAG = {
  name: 'milvus-secret',
  type: 'string',
  describe: 'Secret (in the release namespace) with the Milvus user for listing databases over gRPC when authentication is on: keys username and password, or token. Default: MILVUS_USERNAME/MILVUS_PASSWORD or MILVUS_TOKEN from the environment, else none.',
} as const;

export const flushCommand = defineCommand({
  name: 'flush',
  args: [RELEASE_ARG],
  describe: 'Persist all data still in the message queue to object storage and verify that every segment is flushed',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 flush my-release -n milvus', 'Flush every collection of every database and verify'],
    ['$0 flush my-release --database db1 --collections a,b', 'Only two collections of one database'],
    ['$0 flush my-release --via service-proxy', 'Where port-forward is forbidden, go through the API server service proxy'],
  ],
  flags: [
    { name: 'timeout', type: 'string', default: '30m', describe: 'How long to wait for the flush to be verified (exit code 9 when it runs out).' },
    { name: 'collections', type: 'string', describe: 'Comma-separated collections of one database (default: all).' },
    { name: 'database', type: 'strings', describe: 'Database to flush, repeatable (default: every database Milvus lists).' },
    { name: 'via', type: 'string', choices: ['port-forward', 'service-proxy'], describe: 'How to reach the management API on port 9091 (default: port-forward, falling back to service-proxy when forbidden).' },
    MILVUS_SECRET_FLAG,
  ],
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    const timeoutMs = parseDuration(args.timeout, '--timeout');
    if (timeoutMs <= 0) throw usageError('--timeout must be greater than zero');
    const collections = list(args.collections);
    const databases = list(args.database);
    if (collections.length && databases.length > 1) throw usageError('--collections applies to one database: give at most one --database with it');
    const [{ discoverRelease }, { flushRelease, FlushTimeoutError }] = await Promise.all([import('../release/discover.js'), import('../flush/flush.js')]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    const { milvusCredentials } = await import('../flush/credentials.js');
    const credentials = await milvusCredentials(ctx, release.namespace, args['milvus-secret']);
    const progress = progressPrinter(ctx);
    let report: FlushReport;
    try {
      report = await flushRelease(ctx, release, {
        timeoutMs,
        ...(collections.length ? { collections } : {}),
        ...(databases.length ? { databases } : {}),
        ...(args.via ? { via: args.via as 'port-forward' | 'service-proxy' } : {}),
        ...(credentials ? { credentials } : {}),
        onProgress: progress.onProgress,
      });
    } catch (e) {
      progress.finish();
      // A timeout still shows what was and was not flushed.
      if (e instanceof FlushTimeoutError) printReport(ctx, e.report);
      throw e;
    }
    progress.finish();
    printReport(ctx, report);
    if (!report.verified) {
      throw failedError(
        `the flush was not verified: ${report.notVerifiedReason ?? 'unknown reason'}`,
        'check the proxy and datacoord logs, then rerun the flush',
      );
    }
  },
});
