/**
 * The flags of the commands that read many releases (`list`, `health` without a release), checked
 * with no I/O: which namespaces (-A, -n, else each context's own), which contexts (--context with
 * one or more names separated by commas, --all-contexts, else the current one), and how many
 * contexts or releases are read at once (--max-parallel).
 */
import type { GlobalOptions, Host } from '../cli/context.js';
import type { FlagSpec } from '../cli/flags.js';
import { usageError } from '../errors.js';

export const FLEET_FLAGS = [
  { name: 'all-namespaces', short: 'A', type: 'boolean', default: false, describe: 'Every namespace of each context (a user who may not list across namespaces gets the context\'s namespace, a warning and exit 5).' },
  { name: 'all-contexts', type: 'boolean', default: false, describe: 'Every context of the kubeconfig (--context takes several names separated by commas).' },
  { name: 'max-parallel', type: 'string', default: '8', describe: 'How many contexts (and, for health, releases) are read at once.' },
] as const satisfies readonly FlagSpec[];

export interface FleetOptions {
  /** Every namespace; else `namespace`, else each context's own namespace. */
  allNamespaces: boolean;
  namespace: string | undefined;
  /** Named contexts, every context ('all'), or the current one (undefined). */
  contexts: string[] | 'all' | undefined;
  maxParallel: number;
}

export function fleetOptions(args: { 'all-namespaces': boolean; 'all-contexts': boolean; 'max-parallel': string }, globals: Pick<GlobalOptions, 'namespace' | 'context'>, host: Host = 'kubectl'): FleetOptions {
  // helm always passes a namespace (its own default): -A then overrides it.
  const namespace = host === 'helm' && args['all-namespaces'] ? undefined : globals.namespace;
  if (args['all-namespaces'] && namespace) throw usageError('-A/--all-namespaces and -n/--namespace exclude each other');
  const named = globals.context === undefined ? undefined : [...new Set(globals.context.split(',').map((c) => c.trim()))];
  if (named?.some((c) => c === '')) throw usageError(`invalid --context "${globals.context}": an empty context name`);
  if (args['all-contexts'] && named) throw usageError('--all-contexts and --context exclude each other');
  const max = args['max-parallel'];
  if (!/^\d+$/.test(max) || Number(max) < 1) throw usageError(`invalid argument "${max}" for "--max-parallel" flag: use a whole number of at least 1`);
  return {
    allNamespaces: args['all-namespaces'],
    namespace,
    contexts: args['all-contexts'] ? 'all' : named,
    maxParallel: Number(max),
  };
}
