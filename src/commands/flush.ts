import type { CommandSpec } from '../cli/command.js';
import { parseDuration, validateReleaseName } from '../cli/command.js';
import { usageError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { formatTable } from '../output/table.js';
import { toJson, toYaml } from '../output/printer.js';
import type { FlushProgress, FlushReport } from '../flush/flush.js';

interface Args {
  release: string;
  timeout: string;
  collections?: string;
  database?: string[];
  via: string;
}

const list = (v: string | string[] | undefined) =>
  (Array.isArray(v) ? v : v ? [v] : []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);

export function renderFlushReport(r: FlushReport): string {
  let out = '';
  if (r.collections.length > 0) {
    out += formatTable(
      ['DATABASE', 'COLLECTION', 'SEGMENTS', 'STATE', 'ELAPSED'],
      r.collections.map((c) => [c.database, c.collection, c.segments, c.state, elapsed(c.elapsedMs)]),
    );
  }
  const segs = r.collections.reduce((n, c) => n + c.segments, 0);
  out += `\n${r.verified ? 'Flushed and verified' : 'NOT verified'}: ${r.collections.length} collection(s) in ${r.databases.length} database(s), ${segs} segment(s) sealed by this flush, in ${elapsed(r.elapsedMs)} (via ${r.endpoint}).\n`;
  return out;
}

export const flushCommand: CommandSpec<Args> = {
  command: 'flush <release>',
  describe: 'Persist all data still in the message queue to object storage and wait until every segment is flushed',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 flush my-release -n milvus', 'Flush every collection of every database and verify'],
    ['$0 flush my-release --database db1 --collections a,b', 'Only two collections of one database'],
    ['$0 flush my-release --via service-proxy', 'Where port-forward is forbidden, go through the API server service proxy'],
  ],
  builder: (y) =>
    y
      .positional('release', { type: 'string', describe: 'Helm release or Milvus resource name' })
      .option('timeout', { type: 'string', default: '30m', describe: 'How long to wait for the flush to be verified' })
      .option('collections', { type: 'string', describe: 'Comma-separated collections (default: all)' })
      .option('database', { type: 'string', array: true, describe: 'Database(s) to flush (default: all the proxy lists)' })
      .option('via', { type: 'string', default: 'port-forward', choices: ['port-forward', 'service-proxy'], describe: 'How to reach the management API on port 9091' }),
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    const timeoutMs = parseDuration(args.timeout, '--timeout');
    if (timeoutMs <= 0) throw usageError('--timeout must be greater than zero');
    const collections = list(args.collections);
    const databases = list(args.database);
    const [{ discoverRelease }, { flushRelease }] = await Promise.all([import('../release/discover.js'), import('../flush/flush.js')]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    let lastLine = '';
    const onProgress = (p: FlushProgress) => {
      const line = `Flushing: ${p.collectionsFlushed}/${p.collectionsTotal} collections, ${p.segmentsFlushed}/${p.segmentsTotal} segments flushed, ${elapsed(p.elapsedMs)}`;
      if (ctx.interactive) {
        ctx.stderr.write(`\r\u001b[2K${line}`);
      } else if (p.finished) {
        ctx.log.info(`flushed ${p.finished.database}.${p.finished.collection} (${p.finished.segments} segments) after ${elapsed(p.finished.elapsedMs)}`);
      } else if (line !== lastLine && p.collectionsFlushed === 0 && p.segmentsFlushed === 0 && lastLine === '') {
        ctx.log.info(`persist requested for ${p.collectionsTotal} collection(s); waiting for ${p.segmentsTotal} segment(s) to flush`);
      }
      lastLine = line;
    };
    let report: FlushReport;
    try {
      report = await flushRelease(ctx, release, {
        timeoutMs,
        ...(collections.length ? { collections } : {}),
        ...(databases.length ? { databases } : {}),
        via: args.via as 'port-forward' | 'service-proxy',
        onProgress,
      });
    } finally {
      if (ctx.interactive && lastLine) ctx.stderr.write('\n');
    }
    const fmt = ctx.globals.output;
    ctx.print(fmt === 'json' ? toJson(report) : fmt === 'yaml' ? toYaml(report) : renderFlushReport(report));
  },
};
