/**
 * The procedure engine every destructive command uses. A procedure is an ordered list of steps
 * over a JSON state. The engine:
 * - prints the complete plan (every step, object and command) for --dry-run and changes nothing;
 * - runs the procedure's preflight before anything changes;
 * - asks one confirmation listing the destructive steps, unless --yes (a "no" exits 8);
 * - checkpoints progress IN THE CLUSTER after every step: a ConfigMap
 *   `kubectl-milvus-<procedure>-<release>` labelled app.kubernetes.io/managed-by=kubectl-milvus,
 *   holding the parameters, the completed steps with their durations and the state (never
 *   secrets: backups of values go to Secrets of their own);
 * - refuses to start over an unfinished checkpoint unless --resume (continue) or --restart, and
 *   refuses to resume with different parameters, naming the difference;
 * - stops between steps on Ctrl-C (exit 130) with the checkpoint intact;
 * - prints `[i/n] title ... done (1.2s)` progress on stderr and returns a summary.
 *
 * Test-only hook: KUBECTL_MILVUS_TEST_INTERRUPT_AFTER=<step id> stops the run right after that
 * step is checkpointed, exactly as an interruption would.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { isNotFound } from '../kube/errors.js';
import { elapsed } from '../output/duration.js';

export const MANAGED_BY = 'kubectl-milvus';
export const LABEL_RELEASE = 'kubectl-milvus.io/release';
export const LABEL_PROCEDURE = 'kubectl-milvus.io/procedure';

export interface StepRun<S> {
  ctx: RunContext;
  state: S;
  /** Saves the state now (for long steps that make progress worth keeping). */
  checkpoint(): Promise<void>;
  log(message: string): void;
}

export interface Step<S> {
  id: string;
  title: string;
  /** Deletes, uninstalls, scales to zero or patches something: needs confirmation. */
  destructive?: boolean;
  /** What the step will do: objects and commands, one per line. */
  plan(state: S): string[];
  /** A heading shown above the step in the plan when it differs from the previous step's (a chained procedure's part). */
  group?: string;
  run(run: StepRun<S>): Promise<void>;
}

export interface ProcedureDefinition<S> {
  name: string;
  release: string;
  namespace: string;
  /** The parameters that define this run; a resume must use the same. */
  params: Record<string, string>;
  initialState: S;
  steps: Step<S>[];
  /** Checks before anything changes; `resuming` tells it which steps are already done. */
  preflight(state: S, done: ReadonlySet<string>): Promise<void>;
  /** One line for the confirmation prompt, e.g. the writers-stopped acknowledgement. */
  confirmQuestion?: string;
}

export interface RunOptions {
  dryRun: boolean;
  yes: boolean;
  resume: boolean;
  restart: boolean;
}

export interface StepRecord {
  id: string;
  title: string;
  status: 'done' | 'skipped-dry-run' | 'pending';
  durationMs?: number;
  finishedAt?: string;
}

export interface ProcedureSummary<S> {
  procedure: string;
  release: string;
  namespace: string;
  dryRun: boolean;
  resumed: boolean;
  completed: boolean;
  checkpoint: string;
  steps: StepRecord[];
  state: S;
  elapsedMs: number;
}

interface Checkpoint<S> {
  version: 1;
  procedure: string;
  params: Record<string, string>;
  startedAt: string;
  updatedAt: string;
  finished: boolean;
  completed: Array<{ id: string; durationMs: number; finishedAt: string }>;
  state: S;
}

export function checkpointName(procedure: string, release: string): string {
  return `kubectl-milvus-${procedure}-${release}`.slice(0, 253);
}

async function readCheckpoint<S>(ctx: RunContext, namespace: string, name: string): Promise<Checkpoint<S> | undefined> {
  const kube = ctx.kube();
  try {
    const cm = await kube.call({ verb: 'get', resource: 'configmaps', namespace, name }, () => kube.core.readNamespacedConfigMap({ name, namespace }));
    const raw = cm.data?.['checkpoint.json'];
    return raw ? (JSON.parse(raw) as Checkpoint<S>) : undefined;
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND) return undefined;
    throw e;
  }
}

async function writeCheckpoint<S>(ctx: RunContext, def: ProcedureDefinition<S>, name: string, cp: Checkpoint<S>): Promise<void> {
  const kube = ctx.kube();
  cp.updatedAt = ctx.now().toISOString();
  const body: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: def.namespace,
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_RELEASE]: def.release, [LABEL_PROCEDURE]: def.name },
      annotations: { 'kubectl-milvus.io/description': `progress of "kubectl milvus ${def.name} ${def.release}"; delete it only after the procedure finished` },
    },
    data: { 'checkpoint.json': JSON.stringify(cp, null, 2) },
  };
  await kube.call({ verb: 'update', resource: 'configmaps', namespace: def.namespace, name }, async () => {
    try {
      await kube.core.replaceNamespacedConfigMap({ name, namespace: def.namespace, body });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await kube.core.createNamespacedConfigMap({ namespace: def.namespace, body });
    }
  });
}

function paramDiff(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => (a[k] ?? '') !== (b[k] ?? '')).map((k) => `${k}: checkpoint "${a[k] ?? ''}", now "${b[k] ?? ''}"`);
}

export function renderPlan<S>(def: ProcedureDefinition<S>, state: S, done: ReadonlySet<string>): string {
  let out = `Plan for "${def.name}" of release "${def.release}" in namespace "${def.namespace}":\n`;
  def.steps.forEach((s, i) => {
    if (s.group && s.group !== def.steps[i - 1]?.group) out += `\n== ${s.group}\n`;
    const mark = done.has(s.id) ? ' (done, skipped)' : s.destructive ? ' [destructive]' : '';
    out += `\n${i + 1}. ${s.title}${mark}\n`;
    for (const line of s.plan(state)) out += `     ${line}\n`;
  });
  return out;
}

export async function runProcedure<S extends object>(ctx: RunContext, def: ProcedureDefinition<S>, opts: RunOptions): Promise<ProcedureSummary<S>> {
  const started = Date.now();
  const cpName = checkpointName(def.name, def.release);
  let cp = await readCheckpoint<S>(ctx, def.namespace, cpName);
  if (cp && cp.procedure !== def.name) cp = undefined;
  let resumed = false;

  if (cp && !cp.finished) {
    if (opts.restart) {
      if (!opts.dryRun) ctx.log.warn(`discarding the unfinished checkpoint configmap/${cpName} (--restart); its backups stay where they are`);
      cp = undefined;
    } else if (!opts.resume) {
      const done = cp.completed.map((c) => c.id).join(', ') || 'none';
      throw preconditionError(
        `an unfinished ${def.name} of release "${def.release}" exists (configmap/${cpName}, steps done: ${done})`,
        `pass --resume to continue it, or --restart to start over`,
      );
    } else {
      const diff = paramDiff(cp.params, def.params);
      if (diff.length) {
        throw preconditionError(`cannot resume with different parameters: ${diff.join('; ')}`, 'rerun with the parameters of the interrupted run, or --restart');
      }
      resumed = true;
    }
  } else if (opts.resume && !opts.dryRun) {
    ctx.log.info(`no unfinished ${def.name} of release "${def.release}" to resume: starting from the beginning`);
  }
  if (cp?.finished) cp = undefined;

  const state: S = resumed && cp ? cp.state : structuredClone(def.initialState);
  const done = new Set<string>(resumed && cp ? cp.completed.map((c) => c.id) : []);
  const records = (): StepRecord[] =>
    def.steps.map((s) => {
      const c = cp?.completed.find((x) => x.id === s.id);
      return c ? { id: s.id, title: s.title, status: 'done', durationMs: c.durationMs, finishedAt: c.finishedAt } : { id: s.id, title: s.title, status: opts.dryRun ? 'skipped-dry-run' : 'pending' };
    });

  await def.preflight(state, done);

  if (opts.dryRun) {
    ctx.log.info(renderPlan(def, state, done).trimEnd());
    ctx.log.info('\nDry run: nothing was changed.');
    return { procedure: def.name, release: def.release, namespace: def.namespace, dryRun: true, resumed, completed: false, checkpoint: cpName, steps: records(), state, elapsedMs: Date.now() - started };
  }

  const remaining = def.steps.filter((s) => !done.has(s.id));
  const destructive = remaining.filter((s) => s.destructive);
  if (destructive.length > 0 && !opts.yes) {
    ctx.log.info(renderPlan(def, state, done).trimEnd());
    ctx.log.info('');
    if (def.confirmQuestion) ctx.log.info(def.confirmQuestion);
    const ok = await ctx.confirm(`${destructive.length} step(s) change or delete objects of release "${def.release}". Do you want to continue?`);
    if (!ok) throw new CliError('aborted: nothing was changed', ExitCode.ABORTED);
  }

  if (!cp) {
    cp = { version: 1, procedure: def.name, params: def.params, startedAt: ctx.now().toISOString(), updatedAt: '', finished: false, completed: [], state };
  }
  cp.state = state;
  const checkpoint = () => writeCheckpoint(ctx, def, cpName, cp!);
  await checkpoint();
  if (resumed) ctx.log.info(`Resuming ${def.name} of "${def.release}": ${done.size} of ${def.steps.length} steps already done.`);

  const interruptAfter = ctx.env.KUBECTL_MILVUS_TEST_INTERRUPT_AFTER;
  for (const [i, step] of def.steps.entries()) {
    if (done.has(step.id)) continue;
    if (ctx.signal.aborted) throw interrupted(def, cpName);
    const t0 = Date.now();
    ctx.log.info(`[${i + 1}/${def.steps.length}] ${step.title} ...`);
    try {
      await step.run({ ctx, state, checkpoint, log: (m) => ctx.log.info(`      ${m}`) });
    } catch (e) {
      await checkpoint().catch(() => undefined);
      if (ctx.signal.aborted) throw interrupted(def, cpName);
      if (e instanceof CliError) {
        throw new CliError(`step "${step.title}" failed: ${e.message}`, e.exitCode, e.hint ?? resumeHint(ctx, def), { cause: e });
      }
      throw new CliError(`step "${step.title}" failed: ${(e as Error).message}`, ExitCode.FAILED, resumeHint(ctx, def), { cause: e });
    }
    const ms = Date.now() - t0;
    cp.completed.push({ id: step.id, durationMs: ms, finishedAt: ctx.now().toISOString() });
    done.add(step.id);
    await checkpoint();
    ctx.log.info(`[${i + 1}/${def.steps.length}] ${step.title} ... done (${elapsed(ms)})`);
    if (interruptAfter === step.id) throw interrupted(def, cpName);
  }
  cp.finished = true;
  await checkpoint();
  return { procedure: def.name, release: def.release, namespace: def.namespace, dryRun: false, resumed, completed: true, checkpoint: cpName, steps: records(), state, elapsedMs: Date.now() - started };
}

function resumeHint<S>(ctx: RunContext, def: ProcedureDefinition<S>): string {
  return `fix the cause, then rerun "${ctx.commandPrefix} ${def.name} ${def.release} -n ${def.namespace} --resume" to continue from this step`;
}

function interrupted<S>(def: ProcedureDefinition<S>, cpName: string): CliError {
  return new CliError(
    `interrupted: progress is saved in configmap/${cpName}`,
    ExitCode.INTERRUPTED,
    `rerun the same command with --resume to continue`,
  );
}

