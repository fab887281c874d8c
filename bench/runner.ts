/**
 * Runs benchmark steps one after the other, each in a process group of its own with a deadline:
 * a progress line on stderr when a step starts, while it runs and when it ends; a step that fails
 * or runs past its deadline says so by name, its whole process group is killed (plugin runs,
 * kubectl, etcd, Milvus servers it started), and the next step runs. A step writes its results
 * as `name value` lines on stdout, passed on as they come; its stderr goes through as it is.
 */
import { spawn } from 'node:child_process';

export interface BenchStep {
  name: string;
  deadlineMs: number;
  /** argv of the process that runs the step. */
  command: string[];
  /** Said instead of running it (e.g. the test bed is not up). */
  skip?: string | undefined;
}

export type StepOutcome = { name: string; status: 'ok' } | { name: string; status: 'failed' | 'timed-out' | 'skipped'; reason: string };

export interface RunnerIo {
  out(text: string): void;
  err(text: string): void;
  /** How often a running step says that it still runs. */
  progressEveryMs?: number;
  /** After SIGTERM at the deadline, how long the step has to clean up before SIGKILL. */
  graceMs?: number;
  /** Called after a step that timed out or failed, with when it started (e.g. to remove what it left on the bed). */
  afterFailure?(step: BenchStep, startedAt: Date): Promise<void>;
}

const clock = () => new Date().toISOString().slice(11, 19);
export const formatDuration = (ms: number): string => (ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`);

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* the group is gone */
  }
}

function runOne(step: BenchStep, io: RunnerIo, note: (m: string) => void): Promise<StepOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const [cmd, ...args] = step.command;
    // detached: a process group of its own, so a timeout kills everything the step started.
    const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    let timedOut = false;
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) io.out(`${l}\n`);
    });
    const progress = setInterval(() => note(`${step.name}: still running (${formatDuration(Date.now() - started)} of ${formatDuration(step.deadlineMs)})`), io.progressEveryMs ?? 60_000);
    let kill: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      timedOut = true;
      note(`${step.name}: deadline of ${formatDuration(step.deadlineMs)} passed: stopping it and everything it started`);
      killGroup(child.pid!, 'SIGTERM');
      kill = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), io.graceMs ?? 15_000);
    }, step.deadlineMs);
    const finish = (outcome: StepOutcome) => {
      clearInterval(progress);
      clearTimeout(deadline);
      if (kill) clearTimeout(kill);
      // Whatever the step left running in its group goes with it.
      killGroup(child.pid!, 'SIGKILL');
      if (pending) io.out(`${pending}\n`);
      resolve(outcome);
    };
    child.on('error', (e) => finish({ name: step.name, status: 'failed', reason: e.message }));
    child.on('close', (code, signal) => {
      const took = formatDuration(Date.now() - started);
      if (timedOut) return finish({ name: step.name, status: 'timed-out', reason: `no result within ${formatDuration(step.deadlineMs)}` });
      if (code === 0) {
        note(`${step.name}: done in ${took}`);
        return finish({ name: step.name, status: 'ok' });
      }
      finish({ name: step.name, status: 'failed', reason: `exit ${code ?? signal} after ${took}` });
    });
  });
}

/** Runs every step; the outcomes in order. */
export async function runSteps(steps: BenchStep[], io: RunnerIo): Promise<StepOutcome[]> {
  const note = (m: string) => io.err(`[bench ${clock()}] ${m}\n`);
  const outcomes: StepOutcome[] = [];
  for (const [i, step] of steps.entries()) {
    const label = `step ${i + 1}/${steps.length}`;
    if (step.skip) {
      note(`${step.name}: skipped: ${step.skip}`);
      outcomes.push({ name: step.name, status: 'skipped', reason: step.skip });
      continue;
    }
    note(`${step.name}: started (${label}, deadline ${formatDuration(step.deadlineMs)})`);
    const startedAt = new Date();
    const o = await runOne(step, io, note);
    if (o.status !== 'ok') {
      note(`${step.name}: ${o.status === 'timed-out' ? 'TIMED OUT' : 'FAILED'}: ${o.reason}; going on with the next step`);
      await io.afterFailure?.(step, startedAt).catch((e: Error) => note(`${step.name}: cleaning up after it failed: ${e.message}`));
    }
    outcomes.push(o);
  }
  const bad = outcomes.filter((o) => o.status === 'failed' || o.status === 'timed-out');
  note(bad.length === 0 ? `all ${outcomes.filter((o) => o.status === 'ok').length} steps done` : `${bad.length} step(s) without a result: ${bad.map((o) => `${o.name} (${o.status})`).join(', ')}`);
  return outcomes;
}
