/**
 * The flush command's output: result table and summary (stdout), progress on stderr (redrawn on
 * a terminal, plain lines otherwise).
 */
import { describe, expect, it } from 'vitest';
import { progressPrinter, renderFlushReport } from '../../src/commands/flush.js';
import type { CollectionFlush, FlushReport } from '../../src/flush/flush.js';
import { toJson } from '../../src/output/printer.js';
import { testContext } from './test-context.js';

const coll = (database: string, collection: string, segments: number, state: CollectionFlush['state'], elapsedMs: number): CollectionFlush => ({
  database,
  collection,
  segments,
  sealedSegmentIds: Array.from({ length: segments }, (_, i) => (454097953998180999n + BigInt(i)).toString()),
  alreadyFlushed: 0,
  state,
  elapsedMs,
});

const report = (over: Partial<FlushReport> = {}): FlushReport => ({
  release: 'my-release',
  namespace: 'milvus',
  endpoint: 'pod/my-release-milvus-proxy-abc',
  apiVersion: '2.3+',
  databases: ['default', 'analytics'],
  scope: 'all-databases',
  allDatabases: true,
  collections: [coll('default', 'books', 2, 'Flushed', 4200), coll('analytics', 'events', 11, 'Flushed', 65_000)],
  verified: true,
  startedAt: '2026-11-22T12:00:00.000Z',
  elapsedMs: 65_500,
  ...over,
});

const ctxOf = (interactive: boolean) => testContext({ interactive });

describe('flush output', () => {
  it('renders an aligned table per collection and a summary line', () => {
    expect(renderFlushReport(report())).toBe(
      'DATABASE    COLLECTION   SEGMENTS   STATE     ELAPSED\n' +
        'default     books        2          Flushed   4.2s\n' +
        'analytics   events       11         Flushed   1m05s\n' +
        '\n' +
        'Flushed and verified: 2/2 collection(s) flushed in 2 database(s) (every database), 13 segment(s) sealed by this flush, in 1m05s via pod/my-release-milvus-proxy-abc.\n',
    );
  });

  it('says NOT verified, and why', () => {
    const r = report({
      verified: false,
      notVerifiedReason: '1 collection(s) failed: default.films',
      databases: ['default'],
      collections: [coll('default', 'books', 1, 'Flushed', 10), coll('default', 'films', 1, 'Failed', 10)],
    });
    const out = renderFlushReport(r);
    expect(out).toContain('NOT verified: 1/2 collection(s) flushed in 1 database(s) (every database)');
    expect(out).toContain('Reason: 1 collection(s) failed: default.films.\n');
  });

  it('a partial scope names the databases not covered; dropped collections are counted apart', () => {
    const r = report({
      scope: 'partial',
      allDatabases: false,
      notCovered: ['analytics'],
      databases: ['default'],
      collections: [coll('default', 'books', 1, 'Flushed', 10), coll('default', 'old', 0, 'Dropped', 10)],
    });
    const out = renderFlushReport(r);
    expect(out).toContain('Flushed and verified: 1/2 collection(s) flushed and 1 dropped during the flush (nothing left to lose) in 1 database(s) (the selected databases; Milvus has more)');
    expect(out).toContain('Not covered: database(s) analytics.\n');
    expect(out).toMatch(/^default +old +0 +Dropped +\S+$/m);
  });

  it('-o json keeps segment IDs as exact strings', () => {
    const j = JSON.parse(toJson(report()));
    expect(j.collections[0].sealedSegmentIds).toEqual(['454097953998180999', '454097953998181000']);
  });

  it('progress: plain lines when stderr is not a terminal', () => {
    const { ctx, stderr } = ctxOf(false);
    const p = progressPrinter(ctx);
    const base = { collectionsFlushed: 0, collectionsTotal: 2, segmentsFlushed: 0, segmentsTotal: 3, elapsedMs: 10 };
    p.onProgress({ ...base, phase: 'persisting', database: 'default' });
    p.onProgress({ ...base, phase: 'waiting' });
    p.onProgress({ ...base, phase: 'waiting', elapsedMs: 500 }); // nothing new to say
    p.onProgress({ ...base, phase: 'waiting', collectionsFlushed: 1, segmentsFlushed: 2, elapsedMs: 1500, finished: coll('default', 'books', 2, 'Flushed', 1500) });
    p.onProgress({ ...base, phase: 'waiting', collectionsFlushed: 1, segmentsFlushed: 2, elapsedMs: 31_000 });
    p.onProgress({ ...base, phase: 'waiting', collectionsFlushed: 1, elapsedMs: 31_500, finished: { ...coll('default', 'films', 1, 'Failed', 31_500), error: 'boom' } });
    p.finish();
    expect(stderr()).toBe(
      'persisting database "default"\n' +
        'waiting for 3 sealed segment(s) of 2 collection(s) to be flushed\n' +
        'flushed default.books (2 segments) after 1.5s\n' +
        'still flushing: 1/2 collections, 2/3 segments flushed, 31.0s\n' +
        'Warning: default.films failed: boom\n',
    );
    expect(stderr()).not.toContain('\r');
  });

  it('progress: one redrawn line on a terminal, cleared at the end', () => {
    const { ctx, stderr } = ctxOf(true);
    const p = progressPrinter(ctx);
    const base = { collectionsFlushed: 0, collectionsTotal: 2, segmentsFlushed: 0, segmentsTotal: 3, elapsedMs: 1000 };
    p.onProgress({ ...base, phase: 'waiting' });
    p.onProgress({ ...base, phase: 'waiting', collectionsFlushed: 1, segmentsFlushed: 2, elapsedMs: 2000 });
    p.onProgress({ ...base, phase: 'done', collectionsFlushed: 2, segmentsFlushed: 3 });
    expect(stderr()).toBe(
      'Flushing: 0/2 collections, 0/3 segments flushed, 1.0s' +
        '\r\u001b[2KFlushing: 1/2 collections, 2/3 segments flushed, 2.0s' +
        '\r\u001b[2K',
    );
  });
});
