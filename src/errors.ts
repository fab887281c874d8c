/**
 * Exit codes and the one error type every command throws. The CLI layer turns a CliError into
 * `error: <message>` on stderr and its exit code; anything else is an internal error (exit 1)
 * whose stack is shown only with -v.
 */
export const ExitCode = {
  OK: 0,
  /** Unexpected internal error. */
  INTERNAL: 1,
  /** Bad flags or arguments. */
  USAGE: 2,
  /** No usable kubeconfig, unknown context. */
  CONFIG: 3,
  /** The cluster (or the Milvus management API) cannot be reached. */
  UNREACHABLE: 4,
  /** RBAC forbids a request the command needs. */
  FORBIDDEN: 5,
  /** The release or namespace does not exist. */
  NOT_FOUND: 6,
  /** A precondition of the command does not hold; nothing was changed. */
  PRECONDITION: 7,
  /** The user declined the confirmation; nothing was changed. */
  ABORTED: 8,
  /** A wait ran out of time. */
  TIMEOUT: 9,
  /** The operation ran and failed (flush not verified, rollout failed, migration pod failed). */
  FAILED: 10,
  /** `health` found at least one critical check (warnings alone exit 0). */
  UNHEALTHY: 12,
  /** A metadata snapshot file is not one, is damaged, or belongs to another release; nothing was changed. */
  BAD_SNAPSHOT: 13,
  /** A metadata snapshot of an older format that restore no longer takes; nothing was changed. */
  OLD_SNAPSHOT: 14,
  /** Interrupted by a signal; rerun with --resume to continue. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const CLI_ERROR = Symbol.for('kubectl-milvus.CliError');

export class CliError extends Error {
  /**
   * The executable loads the cluster-facing modules as a second bundle (scripts/build.mjs), which
   * has its own copy of this class: `instanceof` checks a brand instead of the prototype chain.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses keep the ordinary check: they live in one bundle only.
    if (this !== CliError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[CLI_ERROR] === true;
  }
  readonly [CLI_ERROR] = true;

  /** What a procedure did before it stopped (its summary), printed on stdout with -o json|yaml. */
  readonly result?: unknown;

  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.INTERNAL,
    readonly hint?: string,
    options?: { cause?: unknown; result?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
    if (options?.result !== undefined) this.result = options.result;
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.USAGE);
export const preconditionError = (message: string, hint?: string) =>
  new CliError(message, ExitCode.PRECONDITION, hint);
export const notFoundError = (message: string, hint?: string) => new CliError(message, ExitCode.NOT_FOUND, hint);
export const failedError = (message: string, hint?: string) => new CliError(message, ExitCode.FAILED, hint);
export const timeoutError = (message: string, hint?: string) => new CliError(message, ExitCode.TIMEOUT, hint);

export function isCliError(e: unknown): e is CliError {
  return e instanceof CliError;
}
