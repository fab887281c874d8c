/**
 * Flush a release: persist everything still in the message queue to object storage through the
 * proxy's management API, then wait until every segment this flush sealed is flushed. Done right
 * where the documented runbook is wrong: every database, the segments THIS flush sealed
 * (coll_segIDs, not flush_coll_segIDs), the flush timestamp where Milvus gives one, 64-bit IDs
 * kept exact, the `status` of every answer checked. `verified` is true only when every collection
 * reported flushed; pulsar-upgrade deletes nothing unless it is.
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, timeoutError, usageError } from '../errors.js';
import { MilvusManagementApi } from '../milvus/mgmt-api.js';
import type { Transport } from '../milvus/transport.js';
import type { Release } from '../release/types.js';
import { openReleaseTransport, type Via } from './transport.js';

export type CollectionState = 'Flushed' | 'Pending' | 'Empty';

export interface CollectionFlush {
  database: string;
  collection: string;
  /** Segments this flush sealed. */
  segments: number;
  /** Their IDs, as exact decimal strings. */
  sealedSegmentIds: string[];
  /** Segments that were already flushed before this flush. */
  alreadyFlushed: number;
  state: CollectionState;
  elapsedMs: number;
}

export interface FlushReport {
  release: string;
  namespace: string;
  /** Where the management API was reached (pod or service). */
  endpoint: string;
  databases: string[];
  /** False when the database list could not be read and only the given/default ones were flushed. */
  allDatabases: boolean;
  collections: CollectionFlush[];
  verified: boolean;
  startedAt: string;
  elapsedMs: number;
}

export interface FlushProgress {
  collectionsFlushed: number;
  collectionsTotal: number;
  segmentsFlushed: number;
  segmentsTotal: number;
  elapsedMs: number;
  /** Set when one collection just finished. */
  finished?: CollectionFlush;
}

export interface FlushOptions {
  timeoutMs: number;
  collections?: string[];
  databases?: string[];
  via?: Via;
  pollIntervalMs?: number;
  onProgress?: (p: FlushProgress) => void;
  /** Reach the API through this transport instead of opening one (tests). */
  transport?: Transport;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

export async function flushRelease(ctx: RunContext, release: Release, opts: FlushOptions): Promise<FlushReport> {
  if (opts.collections?.length && opts.databases && opts.databases.length > 1) {
    throw usageError('--collections applies to one database: give at most one --database with it');
  }
  const started = Date.now();
  const transport = opts.transport ?? (await openReleaseTransport(ctx, release, opts.via ?? 'port-forward'));
  try {
    return await flushThrough(ctx, release, transport, opts, started);
  } finally {
    if (!opts.transport) await transport.close();
  }
}

async function flushThrough(ctx: RunContext, release: Release, transport: Transport, opts: FlushOptions, started: number): Promise<FlushReport> {
  const api = new MilvusManagementApi(transport, ctx.signal);
  const deadline = started + opts.timeoutMs;

  let databases = opts.databases;
  let allDatabases = true;
  if (!databases?.length) {
    if (opts.collections?.length) {
      databases = ['default'];
      allDatabases = false;
    } else {
      const listed = await api.listDatabases();
      if (listed?.length) databases = listed;
      else {
        databases = ['default'];
        allDatabases = false;
        ctx.log.warn(
          'the proxy does not list databases (REST v2 on port 19530 needs Milvus >= 2.4 without authentication): only the default database is flushed; name others with --database',
        );
      }
    }
  } else {
    allDatabases = false;
  }

  interface Pending {
    item: CollectionFlush;
    ids: bigint[];
    flushTs: bigint | undefined;
  }
  const pending: Pending[] = [];
  const done: CollectionFlush[] = [];
  for (const db of databases) {
    let names = await api.listCollections(db);
    if (opts.collections?.length) {
      const missing = opts.collections.filter((c) => !names.includes(c));
      if (missing.length) throw new CliError(`collection(s) not found in database "${db}": ${missing.join(', ')}`, ExitCode.NOT_FOUND);
      names = opts.collections;
    }
    if (names.length === 0) continue;
    const persisted = await api.persist(db, names);
    for (const name of names) {
      const ids = persisted.sealed.get(name) ?? [];
      const flushTs = persisted.flushTs?.get(name);
      const item: CollectionFlush = {
        database: db,
        collection: name,
        segments: ids.length,
        sealedSegmentIds: ids.map((i) => i.toString()),
        alreadyFlushed: persisted.alreadyFlushed.get(name)?.length ?? 0,
        state: 'Pending',
        elapsedMs: 0,
      };
      // Nothing sealed and no flush timestamp to wait for (2.1/2.2): nothing was in the queue.
      if (ids.length === 0 && flushTs === undefined) {
        item.state = 'Empty';
        item.elapsedMs = Date.now() - started;
        done.push(item);
      } else {
        pending.push({ item, ids, flushTs });
      }
    }
  }

  const total = done.length + pending.length;
  const segmentsTotal = pending.reduce((n, p) => n + p.ids.length, 0);
  let segmentsFlushed = 0;
  const report = (finished?: CollectionFlush) =>
    opts.onProgress?.({
      collectionsFlushed: done.length,
      collectionsTotal: total,
      segmentsFlushed,
      segmentsTotal,
      elapsedMs: Date.now() - started,
      ...(finished ? { finished } : {}),
    });
  report();

  let interval = opts.pollIntervalMs ?? 500;
  while (pending.length > 0) {
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!;
      if (await api.flushState(p.item.database, p.item.collection, p.ids, p.flushTs)) {
        p.item.state = 'Flushed';
        p.item.elapsedMs = Date.now() - started;
        segmentsFlushed += p.ids.length;
        done.push(p.item);
        pending.splice(i, 1);
        report(p.item);
      }
    }
    if (pending.length === 0) break;
    if (Date.now() >= deadline) {
      const names = pending.map((p) => `${p.item.database}.${p.item.collection}`).join(', ');
      throw timeoutError(
        `flush not verified within ${Math.round(opts.timeoutMs / 1000)}s: ${done.length} of ${total} collections flushed, still pending: ${names}`,
        'rerun flush with a longer --timeout; nothing was deleted',
      );
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), ctx.signal);
    interval = Math.min(interval * 2, 5000);
    report();
  }

  const order = new Map(databases.map((d, i) => [d, i]));
  done.sort((a, b) => (order.get(a.database)! - order.get(b.database)!) || a.collection.localeCompare(b.collection));
  return {
    release: release.name,
    namespace: release.namespace,
    endpoint: transport.describe(),
    databases,
    allDatabases,
    collections: done,
    verified: done.every((c) => c.state === 'Flushed' || c.state === 'Empty'),
    startedAt: new Date(started).toISOString(),
    elapsedMs: Date.now() - started,
  };
}
