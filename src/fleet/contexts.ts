/**
 * The clusters a fleet command reads: one Kube per context, each with the request timeout, the
 * impersonation and the namespace rules of a single-context command. Unknown context names are
 * refused (exit 3) before any cluster is asked.
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { Kube } from '../kube/client.js';
import { kubeconfigContexts, loadKubeConfig } from '../kube/kubeconfig.js';
import type { FleetOptions } from './options.js';

export interface Target {
  context: string;
  /** Connects on first use; throws the configuration error of this context (credentials...). */
  kube(): Kube;
}

/** The contexts to read, in the order given (--context) or of the kubeconfig (--all-contexts); the current one alone by default. */
export function resolveTargets(ctx: RunContext, o: FleetOptions): { targets: Target[]; several: boolean } {
  if (o.contexts === undefined) {
    const kube = ctx.kube();
    return { targets: [{ context: kube.contextName, kube: () => kube }], several: false };
  }
  const flags = { kubeconfig: ctx.globals.kubeconfig, namespace: o.namespace, as: ctx.globals.as, asGroups: ctx.globals.asGroups };
  const { names } = kubeconfigContexts(flags, ctx.env);
  let wanted: string[];
  if (o.contexts === 'all') {
    if (names.length === 0) throw new CliError('--all-contexts: the kubeconfig has no contexts', ExitCode.CONFIG);
    wanted = names;
  } else {
    const unknown = o.contexts.filter((c) => !names.includes(c));
    if (unknown.length) throw new CliError(`context${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')} ${unknown.length > 1 ? 'do' : 'does'} not exist`, ExitCode.CONFIG, names.length ? `known contexts: ${names.join(', ')}` : undefined);
    wanted = o.contexts;
  }
  const targets = wanted.map((context): Target => {
    let kube: Kube | undefined;
    return {
      context,
      kube: () => (kube ??= new Kube(loadKubeConfig({ ...flags, context }, ctx.env), ctx.globals.requestTimeoutMs)),
    };
  });
  return { targets, several: targets.length > 1 };
}
