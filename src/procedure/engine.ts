/**
 * The procedure engine every destructive command uses. A procedure is an ordered list of steps
 * over a JSON state. The engine:
 * - prints the complete plan (every step, object and command) for --dry-run and changes nothing;
 * - runs the procedure's preflight before anything changes, and before anything is printed: a
 *   refused run (bad input, a chart helm cannot resolve) prints its one-line error only;
 * - asks one confirmation listing the destructive steps, unless --yes (a "no" exits 8);
 * - checkpoints progress IN THE CLUSTER after every step: a ConfigMap
 *   `kubectl-milvus-<procedure>-<release>` labelled app.kubernetes.io/managed-by=kubectl-milvus,
 *   holding the parameters, the completed steps with their durations and the state (never
 *   secrets: backups of values go to Secrets of their own);
 * - refuses to start over an unfinished checkpoint unless --resume (continue) or --restart, and
 *   refuses to resume with different parameters, naming the difference;
 * - stops between steps on Ctrl-C (exit 130) with the checkpoint intact;
 * - prints `[i/n] title ... done (1.2s)` progress on stderr and returns a summary;
 * - lets one run at a time work on a release: a Lease (holder identity, heartbeat) tells a live
 *   run from a dead one, a fresh start CREATES its checkpoint (an existing one is a 409, refused
 *   naming the holder), every update names the resourceVersion it read, and --restart refuses to
 *   discard a live run;
 * - records a step as "started" BEFORE it runs, so a resumed step knows it may have half-done its
 *   work and decides from what it observes;
 * - re-runs a step marked `repeatUntil: X` in every invocation until step X is done (the flush
 *   that licenses a deletion is never one remembered from an earlier run);
 * - on a failure after a destructive step started, prints the procedure's manual restore command;
 * - a run that changed nothing (it stopped in a non-destructive first step) does not block a plain
 *   rerun.
 *
 * The checkpoint store and the lock are seams (checkpoint-store.ts, lease.ts): unit tests pass
 * in-memory ones.
 *
 * Test-only hook: KUBECTL_MILVUS_TEST_INTERRUPT_AFTER=<step id> stops the run right after that
 * step is checkpointed, exactly as an interruption would.
 */
import { randomBytes } from 'node:crypto';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { elapsed } from '../output/duration.js';
import { CheckpointConflict, configMapCheckpointStore, type Checkpoint, type CheckpointStore } from './checkpoint-store.js';
import { leaseLock, LEASE_DURATION_S, runIdentity, type Holder, type RunLock } from './lease.js';

export { LABEL_PROCEDURE, LABEL_RELEASE, MANAGED_BY } from './checkpoint-store.js';
export type { Checkpoint, CheckpointStore } from './checkpoint-store.js';

export interface StepRun<S> {
  ctx: RunContext;
  state: S;
  /** Saves the state now (for long steps that make progress worth keeping). */
  checkpoint(): Promise<void>;
  log(message: string): void;
  /** This invocation's id: a step records it to prove something happened in THIS run. */
  invocation: string;
  /** An earlier run started this step and did not finish it: look before acting again. */
  resumedAfterStart: boolean;
  /** This run's id, the same on every --resume (its checkpoint's start time): backups are keyed by it. */
  runId: string;
}

export interface Step<S> {
  id: string;
  title: string;
  /** Deletes, uninstalls, scales to zero or patches something: needs confirmation. */
  destructive?: boolean;
  /**
   * Done counts only within one invocation until step `repeatUntil` is done: a resume runs this
   * step again (a verification that must be fresh, such as the flush before the stop).
   */
  repeatUntil?: string;
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
  /** Printed as a warning on stderr on every run that will change something, --yes or not (once the preflight passed). */
  warning?: string;
  /**
   * Printed on stderr once the preflight passed, before the warning and the plan (e.g. the
   * upgrade's table of hops): a run refused by its preflight prints its one-line error only.
   */
  intro?: string;
  /**
   * The exact commands that put the release back by hand after a failure, from what the state
   * says was saved; shown when a step fails once a destructive step has started.
   */
  restoreCommands?(state: S, done: ReadonlySet<string>): string[];
  /**
   * Undoes what must not outlive a failed or interrupted run (e.g. a deletion policy set for the
   * stop that never came); called before the error is reported. Its own failure is a warning.
   */
  onFailure?(state: S, done: ReadonlySet<string>, log: (m: string) => void): Promise<void>;
}

export interface RunOptions {
  dryRun: boolean;
  yes: boolean;
  resume: boolean;
  restart: boolean;
}

/** The engine's seams: where the checkpoint lives and who holds the run. */
export interface EngineSeams {
  store?: CheckpointStore;
  lock?: RunLock;
  /** Renewal interval of the lock (default a quarter of its duration). */
  heartbeatMs?: number;
}

export interface StepRecord {
  id: string;
  title: string;
  status: 'done' | 'skipped-dry-run' | 'pending' | 'failed';
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

export function checkpointName(procedure: string, release: string): string {
  return `kubectl-milvus-${procedure}-${release}`.slice(0, 253);
}

/** The parameters that differ between a checkpoint (a) and this run (b), one `key: checkpoint "x", now "y"` each. */
export function paramDiff(a: Record<string, string>, b: Record<string, string>): string[] {
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

function describeHolder(h: Holder | undefined): string {
  return h ? `${h.identity}, last heartbeat ${h.renewedAt}` : 'unknown holder';
}

function liveRunError<S>(def: ProcedureDefinition<S>, ref: string, h: Holder): CliError {
  return preconditionError(
    `another ${def.name} of release "${def.release}" is running (${ref}, held by ${describeHolder(h)})`,
    `wait for it to finish; if it died, its hold expires ${LEASE_DURATION_S}s after its last heartbeat and --resume takes over`,
  );
}

export async function runProcedure<S extends object>(ctx: RunContext, def: ProcedureDefinition<S>, opts: RunOptions, seams: EngineSeams = {}): Promise<ProcedureSummary<S>> {
  const t0run = ctx.now().getTime();
  const sinceStart = () => ctx.now().getTime() - t0run;
  const cpName = checkpointName(def.name, def.release);
  const where = { namespace: def.namespace, name: cpName, release: def.release, procedure: def.name };
  const store = seams.store ?? configMapCheckpointStore(ctx, where);
  const lock = seams.lock ?? leaseLock(ctx, where);
  const invocation = randomBytes(4).toString('hex');
  const identity = runIdentity(invocation);

  // One run at a time: take the hold before reading what to do, so the decision cannot race.
  if (!opts.dryRun) {
    const got = await lock.acquire(identity);
    if (!got.ok) throw liveRunError(def, store.ref, got.holder);
  } else {
    const h = await lock.holder().catch(() => undefined);
    if (h?.live) ctx.log.warn(`another ${def.name} of release "${def.release}" is running (held by ${describeHolder(h)})`);
  }
  let lost = false;
  const beat = opts.dryRun
    ? undefined
    : setInterval(() => {
        lock.renew().then(
          (ok) => {
            if (!ok) lost = true;
          },
          () => undefined,
        );
      }, seams.heartbeatMs ?? (LEASE_DURATION_S * 1000) / 4);
  beat?.unref();
  try {
    return await runHeld(ctx, def, opts, { store, invocation, identity, cpName, lostHold: () => lost, sinceStart });
  } finally {
    if (beat) clearInterval(beat);
    if (!opts.dryRun) await lock.release().catch(() => undefined);
  }
}

interface HeldRun {
  store: CheckpointStore;
  invocation: string;
  identity: string;
  cpName: string;
  lostHold(): boolean;
  sinceStart(): number;
}

async function runHeld<S extends object>(ctx: RunContext, def: ProcedureDefinition<S>, opts: RunOptions, h: HeldRun): Promise<ProcedureSummary<S>> {
  const { store, cpName } = h;
  const stored = await store.read<S>();
  let cp: Checkpoint<S> | undefined = stored?.checkpoint;
  let revision: string | undefined = stored?.revision;
  if (cp && cp.procedure !== def.name) cp = undefined;
  let resumed = false;

  if (cp && !cp.finished) {
    const startedDestructive = cp.started ? def.steps.find((s) => s.id === cp!.started!.id)?.destructive === true : false;
    const changedNothing = cp.completed.length === 0 && !startedDestructive;
    if (opts.restart) {
      if (!opts.dryRun) ctx.log.warn(`discarding the unfinished checkpoint ${store.ref} (--restart); its backups stay where they are`);
      cp = undefined;
    } else if (!opts.resume && changedNothing) {
      if (!opts.dryRun) ctx.log.info(`the earlier ${def.name} of "${def.release}" stopped before changing anything: starting again`);
      cp = undefined;
    } else if (!opts.resume) {
      const done = cp.completed.map((c) => c.id).join(', ') || 'none';
      throw preconditionError(
        `an unfinished ${def.name} of release "${def.release}" exists (${store.ref}, steps done: ${done})`,
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
  const doneIds = new Set<string>(resumed && cp ? cp.completed.map((c) => c.id) : []);
  // A step that must be fresh runs again in this invocation until the step it licenses is done.
  for (const s of def.steps) if (s.repeatUntil && doneIds.has(s.id) && !doneIds.has(s.repeatUntil)) doneIds.delete(s.id);
  if (cp) cp.completed = cp.completed.filter((c) => doneIds.has(c.id));
  const done = doneIds;
  const startedBefore = resumed && cp?.started && !done.has(cp.started.id) ? cp.started.id : undefined;
  const records = (failed?: string): StepRecord[] =>
    def.steps.map((s) => {
      const c = cp?.completed.find((x) => x.id === s.id);
      if (c) return { id: s.id, title: s.title, status: 'done', durationMs: c.durationMs, finishedAt: c.finishedAt };
      return { id: s.id, title: s.title, status: s.id === failed ? 'failed' : opts.dryRun ? 'skipped-dry-run' : 'pending' };
    });
  /** The run's summary: returned at the end or after a dry run, carried by the error a stopped run throws (stdout with -o json|yaml). */
  const summary = (o: { dryRun?: boolean; completed?: boolean; failed?: string } = {}): ProcedureSummary<S> => ({
    procedure: def.name, release: def.release, namespace: def.namespace, dryRun: o.dryRun ?? false, resumed, completed: o.completed ?? false, checkpoint: cpName, steps: records(o.failed), state, elapsedMs: h.sinceStart(),
  });

  const remaining = def.steps.filter((s) => !done.has(s.id));
  const destructive = remaining.filter((s) => s.destructive);

  // Every check that changes nothing comes first: bad input is one error line, no plan, no warning.
  await def.preflight(state, done);
  if (def.intro) ctx.log.info(def.intro);
  if (def.warning && destructive.length > 0) ctx.log.warn(def.warning);

  if (opts.dryRun) {
    ctx.log.info(renderPlan(def, state, done).trimEnd());
    ctx.log.info('\nDry run: nothing was changed.');
    return summary({ dryRun: true });
  }

  if (destructive.length > 0 && !opts.yes) {
    ctx.log.info(renderPlan(def, state, done).trimEnd());
    ctx.log.info('');
    if (def.confirmQuestion) ctx.log.info(def.confirmQuestion);
    const ok = await ctx.confirm(`${destructive.length} step(s) change or delete objects of release "${def.release}". Do you want to continue?`);
    if (!ok) throw new CliError('aborted: nothing was changed', ExitCode.ABORTED);
  }

  const fresh = !cp;
  if (!cp) {
    cp = { version: 1, procedure: def.name, params: def.params, startedAt: ctx.now().toISOString(), updatedAt: '', finished: false, completed: [], state };
  }
  cp.state = state;
  const write = async () => {
    if (h.lostHold()) throw preconditionError(`this run lost its hold on ${store.ref} to another run: stopping before the next change`);
    cp!.updatedAt = ctx.now().toISOString();
    cp!.holder = h.identity;
    try {
      // A fresh start over nothing creates (409 if another run just did); otherwise the revision read.
      revision = revision === undefined ? await store.create(cp!) : await store.update(cp!, revision);
    } catch (e) {
      if (e instanceof CheckpointConflict) {
        throw preconditionError(
          `another ${def.name} of release "${def.release}" ${fresh ? 'started' : 'changed ' + store.ref} at the same time (holder: ${e.holder ?? 'unknown'})`,
          'nothing more is done by this run; look at the other run before resuming',
        );
      }
      throw e;
    }
  };
  const checkpoint = () => write();
  await checkpoint();
  if (resumed) ctx.log.info(`Resuming ${def.name} of "${def.release}": ${done.size} of ${def.steps.length} steps already done.`);

  const interruptAfter = ctx.env.KUBECTL_MILVUS_TEST_INTERRUPT_AFTER;
  let destructiveStarted = done.size > 0 && def.steps.some((s) => s.destructive && done.has(s.id));
  for (const [i, step] of def.steps.entries()) {
    if (done.has(step.id)) continue;
    if (ctx.signal.aborted) throw interrupted(cpName, summary());
    const t0 = ctx.now().getTime();
    ctx.log.info(`[${i + 1}/${def.steps.length}] ${step.title} ...`);
    // "Started" is on record before the step touches anything.
    cp.started = { id: step.id, at: ctx.now().toISOString(), invocation: h.invocation };
    await checkpoint();
    if (step.destructive) destructiveStarted = true;
    try {
      await step.run({ ctx, state, checkpoint, log: (m) => ctx.log.info(`      ${m}`), invocation: h.invocation, resumedAfterStart: startedBefore === step.id, runId: cp.startedAt.replace(/[-:.]/g, '') });
    } catch (e) {
      if (def.onFailure) {
        await def.onFailure(state, done, (m) => ctx.log.info(`      ${m}`)).catch((x: unknown) => ctx.log.warn(`could not undo after the failure: ${(x as Error).message}`));
      }
      await checkpoint().catch(() => undefined);
      if (ctx.signal.aborted) throw interrupted(cpName, summary());
      const restore = destructiveStarted ? restoreText(def, state, done) : '';
      const result = summary({ failed: step.id });
      if (e instanceof CliError) {
        throw new CliError(`step "${step.title}" failed: ${e.message}`, e.exitCode, (e.hint ?? resumeHint(ctx, def)) + restore, { cause: e, result });
      }
      throw new CliError(`step "${step.title}" failed: ${(e as Error).message}`, ExitCode.FAILED, resumeHint(ctx, def) + restore, { cause: e, result });
    }
    const ms = ctx.now().getTime() - t0;
    cp.completed.push({ id: step.id, durationMs: ms, finishedAt: ctx.now().toISOString(), invocation: h.invocation });
    cp.started = undefined;
    done.add(step.id);
    await checkpoint();
    ctx.log.info(`[${i + 1}/${def.steps.length}] ${step.title} ... done (${elapsed(ms)})`);
    if (interruptAfter === step.id) throw interrupted(cpName, summary());
  }
  cp.finished = true;
  await checkpoint();
  return summary({ completed: true });
}

function restoreText<S>(def: ProcedureDefinition<S>, state: S, done: ReadonlySet<string>): string {
  const cmds = def.restoreCommands?.(state, done) ?? [];
  return cmds.length ? `\nto put the release back by hand instead:\n  ${cmds.join('\n  ')}` : '';
}

function resumeHint<S>(ctx: RunContext, def: ProcedureDefinition<S>): string {
  return `fix the cause, then rerun "${ctx.commandPrefix} ${def.name} ${def.release} -n ${def.namespace} --resume" to continue from this step`;
}

function interrupted<S>(cpName: string, result: ProcedureSummary<S>): CliError {
  return new CliError(
    `interrupted: progress is saved in configmap/${cpName}`,
    ExitCode.INTERRUPTED,
    `rerun the same command with --resume to continue`,
    { result },
  );
}

