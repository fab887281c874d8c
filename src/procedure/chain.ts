/**
 * Procedure composition: a chain of procedures (links) run as ONE procedure on the engine, under
 * one checkpoint, so `--resume` continues in the middle of any link.
 *
 * - Step ids are `<link>.<step>`; each link keeps its own state under `links[<link>]`.
 * - A link is defined twice: once for the plan (what the whole chain will do, shown by
 *   --dry-run), and again when it starts, from the cluster as it is then (a later link runs on
 *   what the earlier ones left). Both must have the same steps, else the run stops before the
 *   link changes anything: the plan no longer describes what would happen.
 * - When a link starts, its own preflight runs with the steps of that link already done, so the
 *   procedures behave exactly as they do alone (their checks, their resume rules).
 */
import { preconditionError } from '../errors.js';
import type { ProcedureDefinition, Step } from './engine.js';

export interface ChainLink<S extends object = object> {
  /** Short and unique in the chain, e.g. "hop-1". */
  id: string;
  /** The heading of the link's steps in the plan. */
  title: string;
  /** The link's procedure: for the plan (`live` false) and when the link starts (`live` true). */
  define(live: boolean): ProcedureDefinition<S> | Promise<ProcedureDefinition<S>>;
}

export interface ChainState {
  /** Each started link's state, by link id. */
  links: Record<string, object>;
  /** Links whose start-up (live definition and preflight) ran, in order. */
  entered: string[];
}

export interface ChainDefinition {
  name: string;
  release: string;
  namespace: string;
  params: Record<string, string>;
  links: ChainLink<any>[];
  confirmQuestion?: string;
}

export const stepId = (link: string, step: string) => `${link}.${step}`;

/** The chain as one procedure definition for runProcedure. */
export async function composeChain(chain: ChainDefinition): Promise<ProcedureDefinition<ChainState>> {
  const ids = new Set<string>();
  for (const l of chain.links) {
    if (ids.has(l.id) || l.id.includes('.')) throw new Error(`chain "${chain.name}": link id "${l.id}" is repeated or contains "."`);
    ids.add(l.id);
  }
  const planned = new Map<string, ProcedureDefinition<object>>();
  for (const l of chain.links) {
    const def = await l.define(false);
    const seen = new Set<string>();
    for (const s of def.steps) {
      // Two steps with one id would share one checkpoint entry: the second would be skipped as done.
      if (seen.has(s.id)) throw new Error(`chain "${chain.name}": link "${l.id}" has two steps with id "${s.id}"`);
      seen.add(s.id);
    }
    planned.set(l.id, def);
  }

  const live = new Map<string, ProcedureDefinition<object>>();
  /** Steps done before this run (from the checkpoint) and in it. */
  const done = new Set<string>();

  const linkDone = (link: string) => new Set([...done].filter((id) => id.startsWith(`${link}.`)).map((id) => id.slice(link.length + 1)));

  async function start(link: ChainLink<any>, cs: ChainState): Promise<ProcedureDefinition<object>> {
    const cached = live.get(link.id);
    if (cached) return cached;
    const def = await link.define(true);
    const want = planned.get(link.id)!.steps.map((s) => s.id);
    const got = def.steps.map((s) => s.id);
    if (want.join('\n') !== got.join('\n')) {
      throw preconditionError(
        `${link.title}: the release changed since the plan (steps planned: ${want.join(', ')}; now: ${got.join(', ')}); nothing of this part was changed`,
        'review the new plan with --dry-run --restart, then run with --restart',
      );
    }
    cs.links[link.id] ??= structuredClone(def.initialState);
    await def.preflight(cs.links[link.id]!, linkDone(link.id));
    if (!cs.entered.includes(link.id)) cs.entered.push(link.id);
    live.set(link.id, def);
    return def;
  }

  const steps: Step<ChainState>[] = chain.links.flatMap((link) =>
    planned.get(link.id)!.steps.map((s): Step<ChainState> => {
      const id = stepId(link.id, s.id);
      // Optional fields of a step the chain does not interpret are kept; ids they name are mapped.
      const { id: _id, title: _t, plan: _p, run: _r, ...optional } = s as Step<object> & Record<string, unknown>;
      const repeat = optional.repeatUntil;
      return {
        ...optional,
        ...(typeof repeat === 'string' ? { repeatUntil: stepId(link.id, repeat) } : {}),
        id,
        title: s.title,
        group: link.title,
        plan: (cs) => {
          const def = live.get(link.id) ?? planned.get(link.id)!;
          const step = def.steps.find((x) => x.id === s.id) ?? s;
          return step.plan(cs.links[link.id] ?? def.initialState);
        },
        async run(r) {
          const def = await start(link, r.state);
          const step = def.steps.find((x) => x.id === s.id)!;
          // Everything the engine gives a step is passed on; only the state is the link's own.
          await step.run({ ...r, state: r.state.links[link.id]! });
          done.add(id);
        },
      };
    }),
  );

  /** The link a failure happened in: the last one started. */
  const current = (cs: ChainState) => chain.links.find((l) => l.id === cs.entered[cs.entered.length - 1]);
  const def: ProcedureDefinition<ChainState> = {
    name: chain.name,
    release: chain.release,
    namespace: chain.namespace,
    params: chain.params,
    initialState: { links: {}, entered: [] },
    steps,
    ...(chain.confirmQuestion ? { confirmQuestion: chain.confirmQuestion } : {}),
    async preflight(cs, already) {
      for (const id of already) done.add(id);
      // The first link with work left starts now: its checks run before anything changes.
      const next = chain.links.find((l) => planned.get(l.id)!.steps.some((s) => !done.has(stepId(l.id, s.id))));
      if (next) await start(next, cs);
    },
  };
  // An engine that asks a procedure for its manual restore commands gets those of the current link.
  const restore = (cs: ChainState, doneIds: ReadonlySet<string>): string[] => {
    const l = current(cs);
    const ld = l && (live.get(l.id) as { restoreCommands?: (s: object, d: ReadonlySet<string>) => string[] } | undefined);
    if (!l || !ld?.restoreCommands) return [];
    return ld.restoreCommands(cs.links[l.id]!, new Set([...doneIds].filter((x) => x.startsWith(`${l.id}.`)).map((x) => x.slice(l.id.length + 1))));
  };
  return Object.assign(def, { restoreCommands: restore });
}
