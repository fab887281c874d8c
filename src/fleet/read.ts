/**
 * Reads the Milvus releases of several contexts at once (at most --max-parallel), each with the
 * fixed list calls of discoverReleases. A context that cannot be read is an error of that context
 * only; one whose user may not list across namespaces falls back to its own namespace, says so,
 * and counts as partial (exit 5).
 */
import { CliError, ExitCode, type ExitCodeValue } from '../errors.js';
import { discoverReleases, type DiscoveredRelease } from '../release/discover.js';
import type { FleetOptions } from './options.js';
import { mapLimit } from '../util/map-limit.js';
import type { Target } from './contexts.js';
import type { Kube } from '../kube/client.js';

export interface ContextRead {
  context: string;
  /** The namespace read; undefined for every namespace. */
  namespace: string | undefined;
  releases: DiscoveredRelease[];
  warnings: string[];
  /** Exit code of a read that may miss releases (a fallback, a source forbidden). */
  partial?: ExitCodeValue | undefined;
  calls: { lists: number; requests: number };
  kube: Kube;
}

export interface ContextError {
  context: string;
  message: string;
  exitCode: ExitCodeValue;
}

export type ContextOutcome = { ok: ContextRead } | { error: ContextError };

function asContextError(context: string, e: unknown): ContextError {
  if (e instanceof CliError) return { context, message: e.message, exitCode: e.exitCode };
  return { context, message: e instanceof Error ? e.message : String(e), exitCode: ExitCode.INTERNAL };
}

export async function readTarget(t: Target, o: FleetOptions): Promise<ContextRead> {
  const kube = t.kube();
  const namespace = o.allNamespaces ? undefined : kube.namespace;
  try {
    const r = await discoverReleases(kube, { namespace });
    return { context: t.context, namespace, kube, ...r };
  } catch (e) {
    if (namespace !== undefined || !(e instanceof CliError) || e.exitCode !== ExitCode.FORBIDDEN) throw e;
    // Namespace-scoped RBAC: what status can read, the context's namespace.
    const r = await discoverReleases(kube, { namespace: kube.namespace });
    const warning = `cannot list across namespaces in context "${t.context}" (${e.message}): showing namespace "${kube.namespace}" only`;
    return { context: t.context, namespace: kube.namespace, kube, ...r, warnings: [warning, ...r.warnings], partial: ExitCode.FORBIDDEN };
  }
}

export function readTargets(targets: Target[], o: FleetOptions): Promise<ContextOutcome[]> {
  return mapLimit(targets, o.maxParallel, async (t) => {
    try {
      return { ok: await readTarget(t, o) };
    } catch (e) {
      return { error: asContextError(t.context, e) };
    }
  });
}

/** The exit code of a fleet command: the first failed context's, else the first partial read's (0 when all is read). */
export function fleetExitCode(outcomes: ContextOutcome[]): ExitCodeValue {
  for (const o of outcomes) if ('error' in o) return o.error.exitCode;
  for (const o of outcomes) if ('ok' in o && o.ok.partial) return o.ok.partial;
  return ExitCode.OK;
}

export { asContextError };
