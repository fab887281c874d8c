/** The engine through its seams: in-memory checkpoint store and lock, no cluster. */
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { CheckpointConflict, memoryCheckpointStore, type Checkpoint, type CheckpointStore } from '../../src/procedure/checkpoint-store.js';
import { runProcedure, type ProcedureDefinition, type RunOptions, type Step } from '../../src/procedure/engine.js';
import { memoryLock } from '../../src/procedure/lease.js';
import { testContext } from './test-context.js';

interface S {
  log: string[];
  flushInvocation?: string;
}

const YES: RunOptions = { dryRun: false, yes: true, resume: false, restart: false };

function definition(opts: { failAt?: string; calls?: string[]; seen?: Record<string, boolean> } = {}): ProcedureDefinition<S> {
  const step = (id: string, extra: Partial<Step<S>> = {}): Step<S> => ({
    id,
    title: `step ${id}`,
    plan: () => [`do ${id}`],
    async run({ state, invocation, resumedAfterStart }) {
      opts.calls?.push(id);
      if (opts.seen) opts.seen[id] = resumedAfterStart;
      if (id === 'flush') state.flushInvocation = invocation;
      if (opts.failAt === id) throw new Error(`${id} broke`);
      state.log.push(id);
    },
    ...extra,
  });
  return {
    name: 'proc',
    release: 'rel',
    namespace: 'ns',
    params: { p: '1' },
    initialState: { log: [] },
    warning: 'stop every writer first',
    steps: [step('backup'), step('flush', { repeatUntil: 'stop' }), step('stop', { destructive: true }), step('delete', { destructive: true })],
    preflight: async () => undefined,
    restoreCommands: () => ['helm install rel chart -f /backups/values.yaml'],
  };
}

function clock(start = Date.parse('2026-12-01T10:00:00Z')) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms) };
}

function setup(store: CheckpointStore = memoryCheckpointStore(), c = clock()) {
  const { ctx, stderr } = testContext();
  const tctx = { ...ctx, now: c.now };
  return { ctx: tctx, stderr, store, clock: c };
}

async function failure(p: Promise<unknown>): Promise<{ exitCode: number; message: string; hint?: string }> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as { exitCode: number; message: string; hint?: string },
  );
}

describe('engine: one run at a time', () => {
  it('refuses while another run holds a live lease, naming the holder, even with --restart', async () => {
    const { ctx, store, clock: c } = setup();
    const lock = memoryLock(c.now, { identity: 'alice@laptop pid 7 run abcd', renewedAt: c.now() });
    for (const o of [YES, { ...YES, restart: true }, { ...YES, resume: true }]) {
      const e = await failure(runProcedure(ctx, definition(), o, { store, lock }));
      expect(e.exitCode).toBe(ExitCode.PRECONDITION);
      expect(e.message).toContain('is running');
      expect(e.message).toContain('alice@laptop pid 7 run abcd');
    }
    expect((store as ReturnType<typeof memoryCheckpointStore>).writes).toBe(0);
  });

  it('takes over a lease whose heartbeat stopped (a dead run)', async () => {
    const { ctx, store, clock: c } = setup();
    const lock = memoryLock(c.now, { identity: 'dead@host pid 1 run 0000', renewedAt: c.now() });
    c.advance(61_000);
    const r = await runProcedure(ctx, definition(), YES, { store, lock });
    expect(r.completed).toBe(true);
    expect(lock.state()).toBeUndefined();
  });

  it('a fresh start whose checkpoint appeared meanwhile (409) is refused, naming the holder', async () => {
    const { ctx, clock: c } = setup();
    const racing: CheckpointStore = {
      ref: 'configmap/x',
      read: async () => undefined,
      create: async () => {
        throw new CheckpointConflict('bob@ci pid 9 run ffff');
      },
      update: async () => '2',
    };
    const calls: string[] = [];
    const e = await failure(runProcedure(ctx, definition({ calls }), YES, { store: racing, lock: memoryLock(c.now) }));
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toContain('bob@ci pid 9 run ffff');
    expect(calls).toEqual([]);
  });

  it('an update over a revision another run wrote stops before the next step', async () => {
    const base = memoryCheckpointStore();
    const calls: string[] = [];
    let n = 0;
    const store: CheckpointStore = {
      ref: base.ref,
      read: base.read,
      create: base.create,
      update: async (cp, rev) => {
        // The other run writes after our second update.
        if (++n === 3) await base.update({ ...(cp as Checkpoint<S>), holder: 'other' }, rev);
        return base.update(cp, rev);
      },
    };
    const { ctx, clock: c } = setup(store);
    const e = await failure(runProcedure(ctx, definition({ calls }), YES, { store, lock: memoryLock(c.now) }));
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toContain('at the same time (holder: other)');
    expect(calls.length).toBeLessThan(4);
  });
});

describe('engine: resume', () => {
  it('re-runs a repeatUntil step in the resuming invocation until the step it licenses is done', async () => {
    const { ctx, store, clock: c } = setup();
    const lock = memoryLock(c.now);
    await failure(runProcedure(ctx, definition({ failAt: 'stop' }), YES, { store, lock }));
    const first = (store as ReturnType<typeof memoryCheckpointStore>).current() as Checkpoint<S>;
    expect(first.completed.map((x) => x.id)).toEqual(['backup', 'flush']);
    const calls: string[] = [];
    const r = await runProcedure(ctx, definition({ calls }), { ...YES, resume: true }, { store, lock });
    expect(calls).toEqual(['flush', 'stop', 'delete']);
    // The flush that licensed the stop is this invocation's, not the remembered one.
    expect(r.state.flushInvocation).not.toBe(first.state.flushInvocation);
    expect(r.state.flushInvocation).toBe((store as ReturnType<typeof memoryCheckpointStore>).current()!.completed.find((x) => x.id === 'stop')!.invocation);
  });

  it('once the licensed step is done, the flush is not repeated', async () => {
    const { ctx, store, clock: c } = setup();
    const lock = memoryLock(c.now);
    await failure(runProcedure(ctx, definition({ failAt: 'delete' }), YES, { store, lock }));
    const calls: string[] = [];
    await runProcedure(ctx, definition({ calls }), { ...YES, resume: true }, { store, lock });
    expect(calls).toEqual(['delete']);
  });

  it('records "started" before a step runs; the resumed step is told', async () => {
    const { ctx, store, clock: c } = setup();
    const lock = memoryLock(c.now);
    await failure(runProcedure(ctx, definition({ failAt: 'stop' }), YES, { store, lock }));
    expect((store as ReturnType<typeof memoryCheckpointStore>).current()!.started?.id).toBe('stop');
    const seen: Record<string, boolean> = {};
    await runProcedure(ctx, definition({ seen }), { ...YES, resume: true }, { store, lock });
    expect(seen).toEqual({ flush: false, stop: true, delete: false });
  });

  it('a run that changed nothing does not block a plain rerun; one that did is refused', async () => {
    const { ctx, store, clock: c } = setup();
    const lock = memoryLock(c.now);
    await failure(runProcedure(ctx, definition({ failAt: 'backup' }), YES, { store, lock }));
    const again = await runProcedure(ctx, definition(), YES, { store, lock });
    expect(again.completed).toBe(true);
    const { ctx: ctx2, store: store2 } = setup();
    await failure(runProcedure(ctx2, definition({ failAt: 'flush' }), YES, { store: store2, lock }));
    const e = await failure(runProcedure(ctx2, definition(), YES, { store: store2, lock }));
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.message).toContain('steps done: backup');
  });

  it('prints the manual restore command on a failure only once a destructive step started', async () => {
    const { ctx, store, clock: c } = setup();
    const lock = memoryLock(c.now);
    const early = await failure(runProcedure(ctx, definition({ failAt: 'flush' }), YES, { store, lock }));
    expect(early.hint).not.toContain('helm install rel chart -f /backups/values.yaml');
    const late = await failure(runProcedure(ctx, definition({ failAt: 'stop' }), { ...YES, resume: true }, { store, lock }));
    expect(late.hint).toContain('helm install rel chart -f /backups/values.yaml');
  });
});

describe('engine: what a stopped run tells a machine reader', () => {
  it('the error of a failed step carries the summary: steps done, the failed one, the rest pending, the state', async () => {
    const { ctx, store, clock: c } = setup();
    const e = (await failure(runProcedure(ctx, definition({ failAt: 'stop' }), YES, { store, lock: memoryLock(c.now) }))) as { result?: { completed: boolean; steps: Array<{ id: string; status: string }>; state: S } };
    expect(e.result?.completed).toBe(false);
    expect(e.result?.steps.map((s) => [s.id, s.status])).toEqual([['backup', 'done'], ['flush', 'done'], ['stop', 'failed'], ['delete', 'pending']]);
    expect(e.result?.state.log).toEqual(['backup', 'flush']);
  });
});

describe('engine: warnings and dry run', () => {
  it('the warning is printed with --yes too', async () => {
    const { ctx, stderr, store, clock: c } = setup();
    await runProcedure(ctx, definition(), YES, { store, lock: memoryLock(c.now) });
    expect(stderr()).toContain('Warning: stop every writer first');
  });

  it('a dry run writes no checkpoint and takes no lock', async () => {
    const { ctx, stderr, store, clock: c } = setup();
    const lock = memoryLock(c.now);
    const calls: string[] = [];
    const r = await runProcedure(ctx, definition({ calls }), { ...YES, dryRun: true }, { store, lock });
    expect(r.dryRun).toBe(true);
    expect(calls).toEqual([]);
    expect((store as ReturnType<typeof memoryCheckpointStore>).writes).toBe(0);
    expect(lock.state()).toBeUndefined();
    expect(stderr()).toContain('Dry run: nothing was changed.');
  });
});
