/**
 * The helm CLI, run as a child process with argument arrays (never a shell). Which helm: HELM_BIN
 * (set by helm for its plugins), else `helm` on PATH. Its kube settings follow ours: --kubeconfig,
 * --kube-context and -n are passed explicitly.
 */
import { execa, ExecaError } from 'execa';
import semver from 'semver';
import { CliError, ExitCode, preconditionError } from '../errors.js';

/** How long helm gets after SIGTERM (Ctrl-C, timeout) to record the interrupted operation before SIGKILL. */
export const HELM_FORCE_KILL_MS = 10_000;

export interface HelmTarget {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace: string;
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

  private kubeArgs(): string[] {
    const a = ['--namespace', this.target.namespace];
    if (this.target.kubeconfig) a.push('--kubeconfig', this.target.kubeconfig);
    if (this.target.context) a.push('--kube-context', this.target.context);
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
      const tail = (e.stderr || e.shortMessage).trim().split('\n').filter(Boolean).slice(-3).join(' ');
      throw new CliError(`helm ${args[0]} failed: ${why ? `${why}${tail ? `: ${tail}` : ''}` : tail}`, ExitCode.FAILED);
    }
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
