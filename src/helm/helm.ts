/**
 * The helm CLI, run as a child process with argument arrays (never a shell). Which helm: HELM_BIN
 * (set by helm for its plugins), else `helm` on PATH. Its kube settings follow ours: --kubeconfig,
 * --kube-context and -n are passed explicitly.
 */
import { execFile } from 'node:child_process';
import semver from 'semver';
import { CliError, ExitCode, preconditionError } from '../errors.js';

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

  run(args: string[], opts: { kube?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const full = opts.kube === false ? args : [...args, ...this.kubeArgs()];
    return new Promise((resolve, reject) => {
      execFile(this.bin, full, { maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 0, signal: this.signal }, (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return reject(preconditionError(`helm not found (looked for "${this.bin}")`, 'install helm >= 3.14 or set HELM_BIN'));
          const msg = (stderr || err.message).trim().split('\n').filter(Boolean).slice(-3).join(' ');
          return reject(new CliError(`helm ${args[0]} failed: ${msg}`, ExitCode.FAILED));
        }
        resolve(stdout);
      });
    });
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
