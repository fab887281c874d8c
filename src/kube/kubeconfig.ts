/**
 * Loads kubeconfig the way kubectl does, which @kubernetes/client-node's loadFromDefault does not:
 * --kubeconfig, else every file of KUBECONFIG merged with the first value winning (missing files
 * skipped), else ~/.kube/config, else the in-cluster service account. The context is --context,
 * else the first current-context; an unknown context is an error. The namespace is -n, else the
 * context's namespace, else the in-cluster namespace, else "default".
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';

export interface ConnectionFlags {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  /** Impersonate this user (kubectl --as). */
  as?: string | undefined;
  /** Impersonate these groups (kubectl --as-group). */
  asGroups?: readonly string[] | undefined;
}

export interface LoadedConfig {
  kc: KubeConfig;
  contextName: string;
  namespace: string;
  /** Where the configuration came from, for -v output. */
  source: string;
  /** The namespace was given explicitly (flag or helm), not taken from the context. */
  namespaceExplicit: boolean;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function kubeconfigFiles(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): string[] {
  if (flags.kubeconfig) {
    if (!existsSync(flags.kubeconfig)) {
      throw new CliError(`stat ${flags.kubeconfig}: no such file or directory`, ExitCode.CONFIG);
    }
    return [flags.kubeconfig];
  }
  if (env.KUBECONFIG) {
    return env.KUBECONFIG.split(delimiter).filter((f) => f !== '' && existsSync(f));
  }
  const home = env.HOME ?? homedir();
  const def = join(home, '.kube', 'config');
  return existsSync(def) ? [def] : [];
}

function mergeFirstWins<T extends { name: string }>(into: Map<string, T>, items: T[]): void {
  for (const item of items) if (!into.has(item.name)) into.set(item.name, item);
}

/**
 * The files of `files` merged as kubectl merges them: for clusters, users and contexts the first
 * file that names one wins, and the first current-context set wins.
 */
function mergeFiles(files: string[]): KubeConfig {
  const kc = new KubeConfig();
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let current = '';
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (e) {
      throw new CliError(`error loading config file "${file}": ${(e as Error).message}`, ExitCode.CONFIG);
    }
    mergeFirstWins(clusters, one.getClusters());
    mergeFirstWins(users, one.getUsers());
    mergeFirstWins(contexts, one.getContexts());
    if (!current && one.getCurrentContext()) current = one.getCurrentContext();
  }
  kc.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext: current,
  });
  return kc;
}

/**
 * The contexts of the kubeconfig kubectl would read (in file order) and its current context, for
 * commands that read several contexts and for completion. In-cluster configuration has none.
 */
export function kubeconfigContexts(flags: Pick<ConnectionFlags, 'kubeconfig'>, env: NodeJS.ProcessEnv = process.env): { names: string[]; current: string | undefined } {
  const files = kubeconfigFiles(flags, env);
  if (files.length === 0) return { names: [], current: undefined };
  const kc = mergeFiles(files);
  return { names: kc.getContexts().map((c) => c.name), current: kc.getCurrentContext() || undefined };
}

export function loadKubeConfig(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const files = kubeconfigFiles(flags, env);
  let kc = new KubeConfig();
  let source: string;
  let inClusterNamespace: string | undefined;
  if (files.length > 0) {
    kc = mergeFiles(files);
    source = files.join(delimiter);
  } else if (existsSync(join(SA_DIR, 'token')) && env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
    source = 'in-cluster service account';
    const nsFile = join(SA_DIR, 'namespace');
    if (existsSync(nsFile)) inClusterNamespace = readFileSync(nsFile, 'utf8').trim() || undefined;
  } else {
    throw new CliError(
      'no configuration has been provided: set --kubeconfig or KUBECONFIG, or create ~/.kube/config',
      ExitCode.CONFIG,
    );
  }

  const contextName = flags.context || kc.getCurrentContext();
  if (!contextName) {
    throw new CliError(
      'no context is set: pass --context or run "kubectl config use-context NAME"',
      ExitCode.CONFIG,
    );
  }
  const ctx = kc.getContextObject(contextName);
  if (!ctx) throw new CliError(`context "${contextName}" does not exist`, ExitCode.CONFIG);
  kc.setCurrentContext(contextName);
  if (!kc.getCluster(ctx.cluster)) {
    throw new CliError(`context "${contextName}" refers to cluster "${ctx.cluster}", which does not exist`, ExitCode.CONFIG);
  }
  // kubectl talks to plain-HTTP servers (kubectl proxy, local fixtures) without complaint;
  // client-node refuses them unless TLS verification is marked skipped, which is moot over HTTP.
  const cluster = kc.getCurrentCluster();
  if (cluster?.server.startsWith('http://') && !cluster.skipTLSVerify) {
    (cluster as { skipTLSVerify: boolean }).skipTLSVerify = true;
  }
  if (flags.as) {
    const user = kc.getCurrentUser();
    if (user) (user as { impersonateUser?: string }).impersonateUser = flags.as;
  }
  if (flags.asGroups?.length) {
    if (!flags.as) throw new CliError('requesting groups or user-extra for impersonation requires --as (kubectl\'s rule)', ExitCode.USAGE);
    impersonateGroups(kc, flags.asGroups);
  }
  const namespace = flags.namespace || ctx.namespace || inClusterNamespace || 'default';
  return { kc, contextName, namespace, source, namespaceExplicit: Boolean(flags.namespace) };
}

/**
 * client-node knows Impersonate-User only: add Impersonate-Group to every request. The API server
 * reads one group per header line and fetch folds repeated headers into one line, so one group is
 * all this client can send: more is refused rather than sent as one wrong group name.
 */
function impersonateGroups(kc: KubeConfig, groups: readonly string[]): void {
  if (groups.length > 1) throw new CliError(`only one --as-group is supported (got ${groups.length})`, ExitCode.USAGE);
  // applyHTTPSOptions is where client-node sets Impersonate-User for API calls, watches and
  // port-forward WebSockets alike.
  const target = kc as unknown as { applyHTTPSOptions(opts: { headers?: Record<string, string> }): void };
  const apply = target.applyHTTPSOptions.bind(kc);
  target.applyHTTPSOptions = (opts) => {
    apply(opts);
    (opts.headers ??= {})['Impersonate-Group'] = groups[0]!;
  };
}
