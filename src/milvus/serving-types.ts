/**
 * The shape of "does the release serve again?" after an upgrade hop that reaches 2.6 or 3.0:
 * the collections loaded before the hop, and what is wrong after it. The upgrade hops take a
 * ServingProbe; src/milvus/serving.ts implements it against the release (mixcoord's management
 * API on 9091, the proxies' health and gRPC GetLoadState on 19530).
 */
import type { RunContext } from '../cli/context.js';
import type { Release } from '../release/types.js';

/** Taken right before a hop changes anything: what must be loaded again after it. */
export interface ServingBaseline {
  takenAt: string;
  /** Loaded collections as "database/collection". */
  loaded: string[];
}

/** One reason the release does not serve; `component` names the workload (e.g. "streamingnode", "proxy", "collection default/books"). */
export interface ServingProblem {
  component: string;
  what: string;
  /** The documented remedy, one line. */
  remedy: string;
}

export interface ServingVerdict {
  ok: boolean;
  problems: ServingProblem[];
}

/** How the check logs in to Milvus when authentication is on (as `flush --milvus-secret`). */
export interface ServingAccess {
  /** A Secret of the release's namespace with `username` and `password`, or `token`; else MILVUS_USERNAME/MILVUS_PASSWORD (MILVUS_TOKEN). */
  milvusSecret?: string | undefined;
}

export interface ServingWaitOptions extends ServingAccess {
  /** How long to wait for the release to serve before the problems are final. */
  timeoutSeconds: number;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

export interface ServingProbe {
  baseline(ctx: RunContext, release: Release, access?: ServingAccess): Promise<ServingBaseline>;
  /** Waits (with progress) until every check passes or the timeout ends; never throws on a failed check, only on bad input. */
  verify(ctx: RunContext, release: Release, baseline: ServingBaseline, opts: ServingWaitOptions): Promise<ServingVerdict>;
}
