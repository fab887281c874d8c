/**
 * The helm CLI, run as a child process with argument arrays (never a shell). Which helm: HELM_BIN
 * (set by helm for its plugins), else `helm` on PATH. Its kube settings follow ours: --kubeconfig
 * (only when given: a KUBECONFIG list reaches helm through the environment, and helm merges it with
 * client-go's rules, as kubectl does), --kube-context, -n, and impersonation (--as ->
 * --kube-as-user, --as-group -> --kube-as-group).
 *
 * `releaseStatus` is the one reading of `helm status`: only helm's "release: not found" means the
 * release is gone; any other failure (API error, expired token, RBAC) is an error, never "absent".
 */
import { execa, ExecaError } from 'execa';
import semver from 'semver';
import { CliError, ExitCode, preconditionError, type ExitCodeValue } from '../errors.js';

/** How long helm gets after SIGTERM (Ctrl-C, timeout) to record the interrupted operation before SIGKILL. */
export const HELM_FORCE_KILL_MS = 10_000;

export interface HelmTarget {
  /** --kubeconfig as the user gave it; never a KUBECONFIG list (helm reads that from the environment). */
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
  /** kubectl --as. */
  asUser?: string | undefined;
  /** kubectl --as-group, each once. */
  asGroups?: readonly string[] | undefined;
}

/** A helm command that exited non-zero; `stderr` is helm's own message. */
export class HelmCommandError extends CliError {
  constructor(
    message: string,
    exitCode: ExitCodeValue,
    readonly stderr: string,
  ) {
    super(message, exitCode);
  }
}

/** Helm's exit status means "no such release" only with this message (helm pkg/storage/driver ErrReleaseNotFound). */
export function isReleaseNotFound(stderr: string): boolean {
  return /\brelease: not found\b/.test(stderr);
}

/** The exit code a helm failure deserves, from its message: a denial or an unreachable API is never "failed" or "gone". */
export function helmFailureCode(stderr: string): ExitCodeValue {
  if (/\b(forbidden|Unauthorized|must be logged in|cannot impersonate|exec plugin|getting credentials|token (has )?expired)\b/i.test(stderr)) return ExitCode.FORBIDDEN;
  if (/\b(context deadline exceeded|timed out waiting for the condition)\b/i.test(stderr)) return ExitCode.TIMEOUT;
  if (/\b(connection refused|no such host|i\/o timeout|TLS handshake timeout|Kubernetes cluster unreachable|the server is currently unable|EOF|Service Unavailable|Internal error|etcdserver)\b/i.test(stderr)) {
    return ExitCode.UNREACHABLE;
  }
  return ExitCode.FAILED;
}

export interface HelmReleaseStatus {
  /** deployed, failed, pending-install, pending-upgrade, pending-rollback, uninstalling, superseded... */
  status: string;
  version: number | undefined;
  chartVersion: string | undefined;
  appVersion: string | undefined;
}

/** The helm target of a command: flags as kubectl reads them, impersonation included. */
export function helmTargetFrom(globals: { kubeconfig?: string | undefined; as?: string | undefined; asGroups?: readonly string[] | undefined }, contextName: string | undefined, namespace: string): HelmTarget {
  return {
    ...(globals.kubeconfig ? { kubeconfig: globals.kubeconfig } : {}),
    ...(contextName ? { context: contextName } : {}),
    namespace,
    ...(globals.as ? { asUser: globals.as } : {}),
    ...(globals.asGroups?.length ? { asGroups: globals.asGroups } : {}),
  };
}

export class Helm {
  readonly bin: string;

  constructor(
    readonly target: HelmTarget,
    env: NodeJS.ProcessEnv = process.env,
    private readonly signal?: AbortSignal,
  ) {
    this.bin = env.HELM_BIN || 'helm';
  }

  /** The same helm, not ended by Ctrl-C: for the one look at what an interrupted operation left. */
  unsignalled(): Helm {
    return new Helm(this.target, { HELM_BIN: this.bin });
  }

  private kubeArgs(): string[] {
    const a = ['--namespace', this.target.namespace];
    if (this.target.kubeconfig) a.push('--kubeconfig', this.target.kubeconfig);
    if (this.target.context) a.push('--kube-context', this.target.context);
    if (this.target.asUser) a.push('--kube-as-user', this.target.asUser);
    for (const g of this.target.asGroups ?? []) a.push('--kube-as-group', g);
    return a;
  }

  /**
   * Runs helm and resolves with its stdout. A failure carries the last lines of helm's stderr.
   * Ctrl-C (the signal) or the timeout ends helm with SIGTERM, which helm handles by marking the
   * release operation failed; SIGKILL follows if it is still running HELM_FORCE_KILL_MS later. helm is also
   * killed if this process exits first.
   */
  async run(args: string[], opts: { kube?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const full = opts.kube === false ? args : [...args, ...this.kubeArgs()];
    try {
      const r = await execa(this.bin, full, {
        maxBuffer: 64 << 20,
        stdin: 'ignore',
        stripFinalNewline: false,
        ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
        ...(this.signal ? { cancelSignal: this.signal } : {}),
        killSignal: 'SIGTERM',
        forceKillAfterDelay: HELM_FORCE_KILL_MS,
      });
      return r.stdout;
    } catch (e) {
      if (!(e instanceof ExecaError)) throw e;
      if (e.code === 'ENOENT') throw preconditionError(`helm not found (looked for "${this.bin}")`, 'install helm >= 3.14 or set HELM_BIN');
      const why = e.isCanceled ? 'interrupted' : e.timedOut ? `timed out after ${opts.timeoutMs} ms` : undefined;
      const stderr = e.stderr || e.shortMessage;
      const tail = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' ');
      const code = e.isCanceled ? ExitCode.INTERRUPTED : e.timedOut ? ExitCode.TIMEOUT : helmFailureCode(stderr);
      throw new HelmCommandError(`helm ${args[0]} failed: ${why ? `${why}${tail ? `: ${tail}` : ''}` : tail}`, code, stderr);
    }
  }

  /**
   * The release's record, or 'not-found' only when helm says "release: not found". Any other
   * failure throws (its exit code from helm's message): an unreadable status is not an absence.
   */
  async releaseStatus(release: string): Promise<HelmReleaseStatus | 'not-found'> {
    let out: string;
    try {
      out = await this.run(['status', release, '-o', 'json']);
    } catch (e) {
      if (e instanceof HelmCommandError && isReleaseNotFound(e.stderr)) return 'not-found';
      if (e instanceof CliError) {
        throw new CliError(`cannot read the state of Helm release "${release}": ${e.message}`, e.exitCode, 'this is not evidence that the release is gone; fix the access and rerun');
      }
      throw e;
    }
    const j = JSON.parse(out) as { info?: { status?: string }; version?: number; chart?: { metadata?: { version?: string; appVersion?: string } } };
    return { status: j.info?.status ?? 'unknown', version: j.version, chartVersion: j.chart?.metadata?.version, appVersion: j.chart?.metadata?.appVersion };
  }

  /** The release's revisions as helm lists them, or 'not-found' only on helm's "release: not found". */
  async revisions(release: string): Promise<HelmRevisions | 'not-found'> {
    let out: string;
    try {
      out = await this.run(['history', release, '-o', 'json']);
    } catch (e) {
      if (e instanceof HelmCommandError && isReleaseNotFound(e.stderr)) return 'not-found';
      throw e;
    }
    return parseHelmHistory(out) ?? 'not-found';
  }

  async version(): Promise<string> {
    const v = (await this.run(['version', '--template', '{{.Version}}'], { kube: false })).trim();
    return v;
  }

  async requireVersion(min: string): Promise<string> {
    const v = await this.version();
    const parsed = semver.coerce(v);
    if (!parsed || semver.lt(parsed, min)) {
      throw preconditionError(`helm ${v} is too old: this procedure needs helm >= ${min} (for --reset-then-reuse-values and the Pulsar v3 chart)`);
    }
    return v;
  }
}

/** What `helm history` says of a release: its latest revision (whatever its status) and the last deployed one. */
export interface HelmRevisions {
  latest: { revision: number; status: string };
  /** The highest revision with status "deployed"; undefined when none is. */
  lastDeployed: number | undefined;
}

/** Reads `helm history -o json` output. */
export function parseHelmHistory(json: string): HelmRevisions | undefined {
  const rows = (JSON.parse(json) as Array<{ revision?: number; status?: string }>).filter((r): r is { revision: number; status: string } => typeof r.revision === 'number');
  if (rows.length === 0) return undefined;
  rows.sort((a, b) => b.revision - a.revision);
  return { latest: { revision: rows[0]!.revision, status: rows[0]!.status ?? 'unknown' }, lastDeployed: rows.find((r) => r.status === 'deployed')?.revision };
}

/**
 * The revision whose values and manifest describe the release: the last deployed one. A pending
 * latest revision (an operation running or cut off) is refused, naming it and the rollback; so
 * is a release with no deployed revision.
 */
export function deployedRevision(release: string, namespace: string, revs: HelmRevisions): number {
  const { latest, lastDeployed } = revs;
  if (latest.status.startsWith('pending-')) {
    throw preconditionError(
      `Helm release "${release}" revision ${latest.revision} is ${latest.status}: a helm operation is running or was cut off`,
      `let it finish, or roll it back${lastDeployed ? `: helm rollback ${release} ${lastDeployed} -n ${namespace}` : ` (helm history ${release} -n ${namespace})`}; then rerun`,
    );
  }
  if (lastDeployed === undefined) {
    throw preconditionError(`Helm release "${release}" has no deployed revision (latest: revision ${latest.revision}, ${latest.status})`, `see "helm history ${release} -n ${namespace}"`);
  }
  return lastDeployed;
}
