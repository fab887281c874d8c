/**
 * Flush a release: persist everything still in the message queue to object storage through the
 * proxy's management API, then wait until every segment this flush sealed is flushed.
 *
 * Done right where the documented runbook is wrong (milvus-upstream.md 3.6 and 6):
 * - every database, not only the default one (see `resolveDatabases` for how they are found);
 * - the wait covers the segments THIS flush sealed (coll_segIDs), not flush_coll_segIDs, plus the
 *   flush timestamp and collection where Milvus 2.3+ provides them;
 * - 64-bit IDs and timestamps kept exact; the `status` of every answer checked;
 * - an absent `flushed` key means not flushed.
 *
 * `verified` is true only when every collection in scope reported flushed AND the scope is known
 * to be complete (every database of the instance, or exactly what the caller asked for).
 * pulsar-upgrade deletes nothing unless it is. Running out of time throws a TIMEOUT error (exit 9)
 * carrying the partial report; collections Milvus refused to flush end up Failed and the report
 * is returned with verified false (the command exits 10).
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { DEFAULT_DATABASE, MilvusApiError, MilvusManagementApi, type PersistResult } from '../milvus/mgmt-api.js';
import type { Transport } from '../milvus/transport.js';
import { listDatabasesGrpc, type MilvusCredentials } from '../milvus/grpc-databases.js';
import { GrpcUnimplementedError, MilvusGrpc } from '../milvus/grpc-client.js';
import { mapLimit } from '../util/map-limit.js';
import { sleep } from '../util/sleep.js';
import { versionBelow } from '../release/version.js';
import type { Release } from '../release/types.js';
import { openReleaseTransport, type Via } from './transport.js';

export type { Via } from './transport.js';

/**
 * Dropped: the collection was dropped while the flush ran (Milvus no longer lists it): nothing of
 * it is left in the queue to lose. It does not stand in the way of a verified flush.
 */
export type CollectionState = 'Flushed' | 'Pending' | 'Failed' | 'Dropped';

export interface CollectionFlush {
  database: string;
  collection: string;
  /** Number of segments this flush sealed (coll_segIDs). */
  segments: number;
  /** Their IDs, as exact decimal strings (int64: never JSON numbers in our output). */
  sealedSegmentIds: string[];
  /** Segments already flushed before this flush (flush_coll_segIDs, 2.2+): not waited on. */
  alreadyFlushed: number;
  /** The flush timestamp waited on (2.3+), exact decimal string. */
  flushTs?: string;
  state: CollectionState;
  /** Time from the start of the flush until this collection was verified (or gave up). */
  elapsedMs: number;
  /** Why the collection is Failed. */
  error?: string;
}

/** How the set of databases was established. */
export type DatabaseScope =
  /** The instance listed its databases: all of them were covered. */
  | 'all-databases'
  /** This Milvus predates databases (< 2.2.9): the default database is everything. */
  | 'no-databases-before-2.2.9'
  /** The caller named the databases/collections, and they could not be compared with a listing. */
  | 'selected'
  /** The caller named databases, and Milvus lists others too (see `notCovered`). */
  | 'partial';

export interface FlushReport {
  release: string;
  namespace: string;
  /** Where the management API was reached (pod or service). */
  endpoint: string;
  /** The management API generation, read from its answers: 2.1, 2.2 or 2.3+. */
  apiVersion: '2.1' | '2.2' | '2.3+' | 'unknown';
  databases: string[];
  scope: DatabaseScope;
  /** True when every database of the instance was covered. */
  allDatabases: boolean;
  /** With scope partial: the databases Milvus lists that this flush did not cover. */
  notCovered?: string[];
  collections: CollectionFlush[];
  /** Every collection in scope Flushed, and the scope complete. */
  verified: boolean;
  /**
   * How the flush was done: one gRPC FlushAll for the whole cluster, waited on with
   * GetFlushAllState (Milvus 2.6+), or persist per database and persist/state per collection.
   */
  method?: 'flush-all' | 'per-collection';
  /** Why verified is false, when it is. */
  notVerifiedReason?: string;
  startedAt: string;
  elapsedMs: number;
}

export interface FlushProgress {
  phase: 'persisting' | 'waiting' | 'done';
  collectionsFlushed: number;
  collectionsTotal: number;
  segmentsFlushed: number;
  segmentsTotal: number;
  elapsedMs: number;
  /** Set when one collection just reached Flushed or Failed. */
  finished?: CollectionFlush;
  /** Set in phase persisting: the database being persisted. */
  database?: string;
}

export interface FlushOptions {
  timeoutMs: number;
  /** Only these collections (of one database). */
  collections?: string[];
  /** Only these databases; default: every database. */
  databases?: string[];
  /** How to reach the management API; default port-forward, falling back to service-proxy when forbidden. */
  via?: Via;
  pollIntervalMs?: number;
  onProgress?: (p: FlushProgress) => void;
  /** Reach the API through this transport instead of opening one (tests). */
  transport?: Transport;
  /**
   * The flush licenses a deletion (pulsar-upgrade): its scope must be every database Milvus lists.
   * A --database list that leaves one out is refused (exit 7) before anything is persisted, and
   * so is a Milvus whose databases cannot be listed.
   */
  requireAllDatabases?: boolean;
  /** Milvus credentials for gRPC ListDatabases (authorizationEnabled). Never printed. */
  credentials?: MilvusCredentials;
  /** persist/state requests in flight at once while waiting (one port-forward carries them). Default 16. */
  pollConcurrency?: number;
  /** Use gRPC FlushAll where the server has it (2.6+). Default true. */
  flushAll?: boolean;
}

/** A flush that ran out of time; `report` has the collections still Pending. */
export class FlushTimeoutError extends CliError {
  constructor(
    message: string,
    readonly report: FlushReport,
  ) {
    super(message, ExitCode.TIMEOUT, 'rerun flush with a longer --timeout; nothing was deleted');
    this.name = 'FlushTimeoutError';
  }
}

/** Consecutive transport errors (port-forward, no answer) tolerated per collection while waiting. */
const MAX_CONSECUTIVE_ERRORS = 3;
/** First Milvus release with databases. */
const DATABASES_SINCE = '2.2.9';
/** First Milvus release with REST v2 (databases/list on 19530). */
const REST_V2_SINCE = '2.4.0';
/** First Milvus release whose FlushAll flushes the cluster through the streaming WAL (milvus-proto 2.6: flush_all_msgs). */
const FLUSH_ALL_SINCE = '2.6.0';
/** persist/state polls in flight at once: each is one round trip through the port-forward (~17 ms). */
const DEFAULT_POLL_CONCURRENCY = 16;

const interrupted = (cause: unknown) =>
  new CliError('flush interrupted before it was verified; nothing was deleted', ExitCode.INTERRUPTED, 'rerun the flush: it is safe to repeat', { cause });

export async function flushRelease(ctx: RunContext, release: Release, opts: FlushOptions): Promise<FlushReport> {
  if (opts.collections?.length && opts.databases && opts.databases.length > 1) {
    throw usageError('--collections applies to one database: give at most one --database with it');
  }
  if (!(opts.timeoutMs > 0)) throw usageError('the flush timeout must be greater than zero');
  const started = ctx.now().getTime();
  const transport = opts.transport ?? (await openReleaseTransport(ctx, release, opts.via));
  try {
    return await new FlushRun(ctx, release, transport, opts, started).run();
  } catch (e) {
    if (ctx.signal.aborted && !(e instanceof CliError && e.exitCode === ExitCode.INTERRUPTED)) throw interrupted(e);
    throw e;
  } finally {
    if (!opts.transport) await transport.close();
  }
}

interface Waiting {
  item: CollectionFlush;
  ids: bigint[];
  flushTs: bigint | undefined;
  errors: number;
}

class FlushRun {
  private readonly api: MilvusManagementApi;
  private readonly deadline: number;
  private readonly items: CollectionFlush[] = [];
  private apiVersion: FlushReport['apiVersion'] = 'unknown';
  private segmentsTotal = 0;
  private segmentsFlushed = 0;
  private scope: ResolvedScope = { databases: [], scope: 'selected' };
  private method: FlushReport['method'];

  constructor(
    private readonly ctx: RunContext,
    private readonly release: Release,
    private readonly transport: Transport,
    private readonly opts: FlushOptions,
    private readonly started: number,
  ) {
    this.api = new MilvusManagementApi(transport, ctx.signal, (level, message) => ctx.log.debug(level, message));
    this.deadline = started + opts.timeoutMs;
  }

  private elapsed(): number {
    return this.ctx.now().getTime() - this.started;
  }

  private progress(phase: FlushProgress['phase'], extra: Partial<FlushProgress> = {}): void {
    this.opts.onProgress?.({
      phase,
      collectionsFlushed: this.items.filter((i) => i.state === 'Flushed').length,
      collectionsTotal: this.items.length,
      segmentsFlushed: this.segmentsFlushed,
      segmentsTotal: this.segmentsTotal,
      elapsedMs: this.elapsed(),
      ...extra,
    });
  }

  /**
   * Which databases to flush. /api/v1 cannot list databases (milvus-upstream.md 3.6), so they
   * are listed through REST v2 `databases/list` on 19530 (2.4+), else gRPC ListDatabases on 19530
   * (2.2.9+: the only way on 2.2/2.3), unless the release runs Milvus older than 2.2.9, which has
   * only the default database. Then:
   * - databases the caller named (--database): exactly those; unknown ones are refused (exit 6);
   *   the scope is all-databases when they are all Milvus lists, partial otherwise, which a flush
   *   that licenses a deletion (requireAllDatabases) refuses with exit 7 naming what is missing;
   * - otherwise every database listed.
   * A listing that fails (gRPC unreachable, forbidden, credentials refused) stops the flush before
   * anything is persisted, with that error's exit code; a plain flush with named databases goes on
   * without it (scope selected: exactly what was named).
   */
  private async resolveDatabases(): Promise<ResolvedScope> {
    const named = this.opts.databases?.length ? [...new Set(this.opts.databases)] : undefined;
    if (this.opts.collections?.length && !this.opts.requireAllDatabases) return { databases: named ?? [DEFAULT_DATABASE], scope: 'selected' };
    if (versionBelow(this.release.milvusVersion, DATABASES_SINCE)) {
      this.ctx.log.debug(1, `Milvus ${this.release.milvusVersion} has only the default database (databases came with ${DATABASES_SINCE})`);
      return onlyDefault(named);
    }
    const listing = await this.listAllDatabases();
    if (listing.error) {
      if (named && !this.opts.requireAllDatabases) {
        this.ctx.log.debug(1, `databases not listed (${listing.error.message}); flushing the named ones`);
        return { databases: named, scope: 'selected' };
      }
      throw new CliError(listing.error.message, listing.error.exitCode, listing.error.hint ?? 'name every database with --database');
    }
    if (!listing.databases) {
      // ListDatabases not implemented: a Milvus without databases, whatever its image tag says.
      this.ctx.log.debug(1, `databases not listed (${listing.reason}): the default database is all there is`);
      return onlyDefault(named);
    }
    const all = listing.databases.includes(DEFAULT_DATABASE) ? listing.databases : [DEFAULT_DATABASE, ...listing.databases];
    if (!named) {
      // The default database first, then the others in the order Milvus lists them.
      return { databases: [DEFAULT_DATABASE, ...all.filter((d) => d !== DEFAULT_DATABASE)], scope: 'all-databases' };
    }
    const unknown = named.filter((d) => !all.includes(d));
    if (unknown.length) {
      throw new CliError(`database${unknown.length > 1 ? 's' : ''} ${unknown.map((d) => `"${d}"`).join(', ')} not found (Milvus lists: ${all.join(', ')})`, ExitCode.NOT_FOUND);
    }
    const notCovered = all.filter((d) => !named.includes(d));
    if (notCovered.length && this.opts.requireAllDatabases) {
      throw new CliError(
        `--database leaves out database${notCovered.length > 1 ? 's' : ''} ${notCovered.map((d) => `"${d}"`).join(', ')} that Milvus lists: a flush that licenses deleting the message queue must cover every database`,
        ExitCode.PRECONDITION,
        `add --database ${notCovered.join(' --database ')}, or give no --database to flush them all; nothing was changed`,
      );
    }
    return notCovered.length ? { databases: named, scope: 'partial', notCovered } : { databases: named, scope: 'all-databases' };
  }

  /** REST v2 (2.4+), then gRPC ListDatabases (2.2.9+) through the same way to the proxy. */
  private async listAllDatabases(): Promise<{ databases?: string[]; reason?: string; error?: CliError }> {
    // REST v2 came with 2.4: older proxies are not asked (2.2's 19530 speaks gRPC only).
    if (!versionBelow(this.release.milvusVersion, REST_V2_SINCE)) {
      const rest = await this.api.listDatabases();
      if (rest.databases?.length) return { databases: rest.databases };
      const restReason = 'reason' in rest ? rest.reason : 'no databases listed';
      this.ctx.log.debug(1, `REST v2 did not list the databases (${restReason}); asking gRPC ListDatabases on 19530`);
    }
    try {
      if (!this.transport.grpcTarget) throw new CliError(`gRPC to port 19530 is not possible through ${this.transport.describe()}`, ExitCode.UNREACHABLE);
      const target = await this.transport.grpcTarget();
      const grpc = await listDatabasesGrpc(
        { ...target, describe: `${this.transport.describe()} port 19530` },
        { ...(this.opts.credentials ? { credentials: this.opts.credentials } : {}), signal: this.ctx.signal },
      );
      if (grpc.databases) return { databases: grpc.databases };
      return { reason: grpc.reason };
    } catch (e) {
      if (this.ctx.signal.aborted || !(e instanceof CliError)) throw e;
      return { error: e };
    }
  }

  /**
   * POST persist for one database; retries once without collections dropped meanwhile (they are
   * returned as `dropped`), and retries transient failures (e.g. "node not found" right after a
   * restart) until the deadline.
   */
  private async persist(db: string, names: string[]): Promise<{ names: string[]; dropped: string[]; persisted: PersistResult }> {
    try {
      return { names, dropped: [], persisted: await this.persistRetrying(db, names) };
    } catch (e) {
      if (!(e instanceof MilvusApiError && e.collectionNotFound) || this.opts.collections?.length) throw e;
      const now = new Set(await this.api.listCollections(db));
      const still = names.filter((n) => now.has(n));
      const dropped = names.filter((n) => !now.has(n));
      if (dropped.length === 0) throw e;
      this.ctx.log.warn(`collection(s) dropped during the flush in database "${db}" (nothing of them is left to lose): ${dropped.join(', ')}`);
      return { names: still, dropped, persisted: still.length ? await this.persistRetrying(db, still) : emptyPersist() };
    }
  }

  private async persistRetrying(db: string, names: string[]): Promise<PersistResult> {
    let delay = 1000;
    let warned = false;
    for (;;) {
      try {
        return await this.api.persist(db, names);
      } catch (e) {
        if (this.ctx.signal.aborted || !(e instanceof MilvusApiError && e.transient)) throw e;
        if (this.ctx.now().getTime() + delay >= this.deadline) {
          throw new FlushTimeoutError(
            `flush not verified within ${Math.round(this.opts.timeoutMs / 1000)}s: Milvus still refused to persist database "${db}": ${e.message}`,
            this.report(true),
          );
        }
        if (!warned) this.ctx.log.warn(`persist of database "${db}" failed with a transient error, retrying within --timeout: ${e.message}`);
        else this.ctx.log.debug(1, `persist of database "${db}": ${e.message} (will retry)`);
        warned = true;
        await sleep(delay, this.ctx.signal);
        delay = Math.min(Math.round(delay * 1.5), 5000);
      }
    }
  }

  async run(): Promise<FlushReport> {
    this.scope = await this.resolveDatabases();
    const { databases, scope } = this.scope;
    const waiting: Waiting[] = [];

    // List every database first, so that a bad --collections/--database fails before any persist.
    const plan: Array<{ db: string; names: string[] }> = [];
    for (const db of databases) {
      let names: string[];
      try {
        names = await this.api.listCollections(db);
      } catch (e) {
        if (e instanceof MilvusApiError && e.databaseNotFound && scope === 'selected') {
          throw new CliError(`database "${db}" not found`, ExitCode.NOT_FOUND);
        }
        throw e;
      }
      if (this.opts.collections?.length) {
        const missing = this.opts.collections.filter((c) => !names.includes(c));
        if (missing.length) throw new CliError(`collection(s) not found in database "${db}": ${missing.join(', ')}`, ExitCode.NOT_FOUND);
        names = [...new Set(this.opts.collections)];
      }
      plan.push({ db, names });
    }

    if (await this.flushAllIfServed(plan)) {
      await this.markDropped();
      this.progress('done');
      return this.report();
    }
    this.method = 'per-collection';

    for (const { db, names: listed } of plan) {
      if (listed.length === 0) continue;
      this.progress('persisting', { database: db });
      const { names, dropped, persisted } = await this.persist(db, listed);
      for (const name of dropped) {
        const item = this.newItem(db, name, [], 0, undefined);
        item.state = 'Dropped';
        item.elapsedMs = this.elapsed();
        this.progress('persisting', { database: db, finished: item });
      }
      this.apiVersion = persisted.flushTs ? '2.3+' : persisted.sealTimes || persisted.alreadyFlushed.size ? '2.2' : '2.1';
      for (const name of names) {
        const ids = persisted.sealed.get(name) ?? [];
        const flushTs = persisted.flushTs?.get(name);
        const item = this.newItem(db, name, ids, persisted.alreadyFlushed.get(name)?.length ?? 0, flushTs);
        this.segmentsTotal += ids.length;
        if (ids.length === 0 && flushTs === undefined) {
          // 2.1/2.2 with nothing sealed: coll_segIDs lists every sealed-not-flushed segment of the
          // collection (datacoord SealAllSegments), so nothing of it is left in the queue.
          item.state = 'Flushed';
          item.elapsedMs = this.elapsed();
        } else {
          waiting.push({ item, ids, flushTs, errors: 0 });
        }
      }
    }

    this.progress('waiting');
    await this.waitAll(waiting);
    await this.markDropped();
    this.progress('done');
    return this.report();
  }

  /**
   * Milvus 2.6+ with every database in scope and no collection named: one gRPC FlushAll flushes
   * the whole cluster through the streaming WAL, and GetFlushAllState says when all of it is
   * flushed (milvus-3.0.md "FlushAll"). Each listed collection is reported Flushed then. A server
   * without FlushAll (UNIMPLEMENTED), or no gRPC way to it, takes the per-collection path; false
   * then, nothing persisted.
   */
  private async flushAllIfServed(plan: Array<{ db: string; names: string[] }>): Promise<boolean> {
    const complete = this.scope.scope === 'all-databases' && !this.opts.collections?.length;
    if (this.opts.flushAll === false || !complete || versionBelow(this.release.milvusVersion, FLUSH_ALL_SINCE) || !this.transport.grpcTarget) return false;
    if (plan.every((p) => p.names.length === 0)) return false;
    let grpc: MilvusGrpc;
    try {
      const target = await this.transport.grpcTarget();
      grpc = await MilvusGrpc.open({ ...target, describe: `${this.transport.describe()} port 19530` }, { credentials: this.opts.credentials, signal: this.ctx.signal });
    } catch (e) {
      if (this.ctx.signal.aborted || !(e instanceof CliError)) throw e;
      this.ctx.log.debug(1, `FlushAll not possible (${e.message}); flushing per collection`);
      return false;
    }
    try {
      this.ctx.log.debug(1, `Milvus ${this.release.milvusVersion}: flushing the whole cluster with FlushAll`);
      let tss: Map<string, bigint>;
      try {
        tss = await grpc.flushAll();
      } catch (e) {
        if (e instanceof GrpcUnimplementedError) {
          this.ctx.log.debug(1, `${e.message}; flushing per collection`);
          return false;
        }
        // gRPC not reachable is no answer at all: the management API on 9091 is another way.
        if (!this.ctx.signal.aborted && e instanceof CliError && e.exitCode === ExitCode.UNREACHABLE) {
          this.ctx.log.warn(`FlushAll could not be sent (${e.message}); flushing per collection instead`);
          return false;
        }
        throw e;
      }
      this.method = 'flush-all';
      this.apiVersion = '2.3+';
      for (const { db, names } of plan) for (const name of names) this.newItem(db, name, [], 0, undefined);
      this.progress('waiting');
      await this.waitFlushAll(grpc, tss);
      return true;
    } finally {
      grpc.close();
    }
  }

  private async waitFlushAll(grpc: MilvusGrpc, tss: Map<string, bigint>): Promise<void> {
    let interval = this.opts.pollIntervalMs ?? 250;
    let errors = 0;
    for (;;) {
      let flushed = false;
      try {
        flushed = await grpc.getFlushAllState(tss);
        errors = 0;
      } catch (e) {
        if (this.ctx.signal.aborted) throw e;
        if (!(e instanceof CliError && e.exitCode === ExitCode.UNREACHABLE) || ++errors >= MAX_CONSECUTIVE_ERRORS) throw e;
        this.ctx.log.debug(1, `GetFlushAllState: ${e.message} (will retry)`);
      }
      if (flushed) {
        for (const item of this.items) {
          item.state = 'Flushed';
          item.elapsedMs = this.elapsed();
          this.progress('waiting', { finished: item });
        }
        return;
      }
      if (this.ctx.now().getTime() >= this.deadline) {
        for (const item of this.items) item.elapsedMs = this.elapsed();
        throw new FlushTimeoutError(
          `flush not verified within ${Math.round(this.opts.timeoutMs / 1000)}s: FlushAll of ${this.items.length} collection(s) not flushed yet (GetFlushAllState)`,
          this.report(true),
        );
      }
      await sleep(Math.min(interval, Math.max(0, this.deadline - this.ctx.now().getTime())), this.ctx.signal);
      interval = Math.min(Math.round(interval * 1.5), 5000);
      this.progress('waiting');
    }
  }

  private newItem(db: string, name: string, ids: bigint[], alreadyFlushed: number, flushTs: bigint | undefined): CollectionFlush {
    const item: CollectionFlush = {
      database: db,
      collection: name,
      segments: ids.length,
      sealedSegmentIds: ids.map((i) => i.toString()),
      alreadyFlushed,
      ...(flushTs !== undefined ? { flushTs: flushTs.toString() } : {}),
      state: 'Pending',
      elapsedMs: 0,
    };
    this.items.push(item);
    return item;
  }

  /**
   * Collections Milvus called flushed but no longer lists were dropped meanwhile (2.2 answers
   * persist/state of a dropped collection's segments with flushed:true). Only a listing that
   * succeeded counts: an error here changes nothing.
   */
  private async markDropped(): Promise<void> {
    const dbs = [...new Set(this.items.filter((i) => i.state === 'Flushed').map((i) => i.database))];
    for (const db of dbs) {
      let names: Set<string>;
      try {
        names = new Set(await this.api.listCollections(db));
      } catch (e) {
        if (this.ctx.signal.aborted) throw e;
        this.ctx.log.debug(1, `could not list the collections of "${db}" after the flush (${(e as Error).message}); their states stand`);
        continue;
      }
      for (const item of this.items) {
        if (item.database === db && item.state === 'Flushed' && !names.has(item.collection)) {
          item.state = 'Dropped';
          this.progress('waiting', { finished: item });
        }
      }
    }
  }

  /** The collection is confirmed gone only when a listing that succeeded does not name it. */
  private async confirmedDropped(db: string, collection: string): Promise<boolean | undefined> {
    try {
      return !(await this.api.listCollections(db)).includes(collection);
    } catch (e) {
      if (this.ctx.signal.aborted) throw e;
      return undefined;
    }
  }

  private async waitAll(waiting: Waiting[]): Promise<void> {
    // Real Milvus flushes sealed segments within a few seconds: poll often at first (a late poll
    // is pure waiting, measured by `npm run bench` flush_overhead_real_s), then back off so that
    // a long flush does not load the proxy.
    let interval = this.opts.pollIntervalMs ?? 250;
    const maxInterval = Math.max(interval, 5000);
    const steadyUntil = this.elapsed() + 10_000;
    const concurrency = this.opts.pollConcurrency ?? DEFAULT_POLL_CONCURRENCY;
    while (waiting.length > 0) {
      // One round: every pending collection polled once, `concurrency` requests in flight at a
      // time through the one port-forward (one after another, 1000 collections took 17 s).
      const done = await mapLimit([...waiting], concurrency, async (w) => {
        const finished = await this.poll(w);
        if (finished) this.progress('waiting', { finished: w.item });
        return finished;
      });
      const finishedNow = new Set(waiting.filter((_, i) => done[i]));
      for (let i = waiting.length - 1; i >= 0; i--) if (finishedNow.has(waiting[i]!)) waiting.splice(i, 1);
      if (waiting.length === 0) break;
      if (this.ctx.now().getTime() >= this.deadline) {
        const names = waiting.map((p) => `${p.item.database}.${p.item.collection}`).join(', ');
        for (const w of waiting) w.item.elapsedMs = this.elapsed();
        const flushed = this.items.filter((x) => x.state === 'Flushed').length;
        throw new FlushTimeoutError(
          `flush not verified within ${Math.round(this.opts.timeoutMs / 1000)}s: ${flushed} of ${this.items.length} collections flushed, still pending: ${names}`,
          this.report(true),
        );
      }
      await sleep(Math.min(interval, Math.max(0, this.deadline - this.ctx.now().getTime())), this.ctx.signal);
      if (this.elapsed() > steadyUntil) interval = Math.min(Math.round(interval * 1.5), maxInterval);
      this.progress('waiting');
    }
  }

  /** One persist/state poll; true when the collection is finished (Flushed or Failed). */
  private async poll(w: Waiting): Promise<boolean> {
    try {
      const flushed = await this.api.flushState(w.item.database, w.item.collection, w.ids, w.flushTs);
      w.errors = 0;
      if (!flushed) return false;
      w.item.state = 'Flushed';
      w.item.elapsedMs = this.elapsed();
      this.segmentsFlushed += w.ids.length;
      return true;
    } catch (e) {
      if (this.ctx.signal.aborted) throw e;
      const what = `${w.item.database}.${w.item.collection}`;
      if (e instanceof MilvusApiError && e.collectionNotFound) {
        // 2.3+: persist/state of a dropped collection. A transient error is never evidence: only
        // a listing without the collection confirms it.
        const gone = await this.confirmedDropped(w.item.database, w.item.collection);
        if (gone) {
          w.item.state = 'Dropped';
          w.item.elapsedMs = this.elapsed();
          return true;
        }
        if (gone === undefined) return false;
      }
      if (e instanceof MilvusApiError && e.transient) {
        // Retried until the deadline (then the flush times out, exit 9).
        this.ctx.log.debug(1, `flush state of ${what}: ${e.message} (will retry)`);
        return false;
      }
      const unreachable = e instanceof CliError && e.exitCode === ExitCode.UNREACHABLE;
      if (unreachable && ++w.errors < MAX_CONSECUTIVE_ERRORS) {
        this.ctx.log.debug(1, `flush state of ${what}: ${(e as Error).message} (will retry)`);
        return false;
      }
      if (unreachable) throw e;
      if (!(e instanceof MilvusApiError)) throw e;
      w.item.state = 'Failed';
      w.item.error = e.message;
      w.item.elapsedMs = this.elapsed();
      return true;
    }
  }

  private report(timedOut = false): FlushReport {
    const { databases, scope, notCovered } = this.scope;
    const order = new Map(databases.map((d, i) => [d, i]));
    const collections = [...this.items].sort(
      (a, b) => (order.get(a.database) ?? 0) - (order.get(b.database) ?? 0) || a.collection.localeCompare(b.collection),
    );
    const failed = collections.filter((c) => c.state === 'Failed');
    const pending = collections.filter((c) => c.state === 'Pending');
    let notVerifiedReason: string | undefined;
    if (timedOut || pending.length) notVerifiedReason = `${pending.length} collection(s) still pending when the timeout ran out`;
    else if (failed.length) notVerifiedReason = `${failed.length} collection(s) failed: ${failed.map((c) => `${c.database}.${c.collection}`).join(', ')}`;
    return {
      release: this.release.name,
      namespace: this.release.namespace,
      endpoint: this.transport.describe(),
      apiVersion: this.apiVersion,
      databases,
      scope,
      allDatabases: scope === 'all-databases' || scope === 'no-databases-before-2.2.9',
      ...(notCovered?.length ? { notCovered } : {}),
      collections,
      verified: notVerifiedReason === undefined,
      ...(notVerifiedReason ? { notVerifiedReason } : {}),
      ...(this.method ? { method: this.method } : {}),
      startedAt: new Date(this.started).toISOString(),
      elapsedMs: this.elapsed(),
    };
  }
}

/** A Milvus without databases: the default one is everything (also when it is the one named). */
function onlyDefault(named: string[] | undefined): ResolvedScope {
  if (named && named.some((d) => d !== DEFAULT_DATABASE)) return { databases: named, scope: 'selected' };
  return { databases: [DEFAULT_DATABASE], scope: 'no-databases-before-2.2.9' };
}

interface ResolvedScope {
  databases: string[];
  scope: DatabaseScope;
  notCovered?: string[];
}

function emptyPersist(): PersistResult {
  return { sealed: new Map(), alreadyFlushed: new Map(), flushTs: undefined, sealTimes: undefined };
}
