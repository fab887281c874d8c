/**
 * Procedure composition (src/procedure/chain.ts) on the real engine, against an in-memory
 * ConfigMap API: one checkpoint for the chain, resume in the middle of any link, each link
 * started (live definition + its own preflight) only when it is reached.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeChain, type ChainLink } from '../../src/procedure/chain.js';
import { runProcedure, type ProcedureDefinition } from '../../src/procedure/engine.js';
import { kubeForFixture } from './fixture-kube.js';
import { testContext } from './test-context.js';

/** An in-memory API for namespaced objects (ConfigMaps, Leases): create, read, replace, delete, with resourceVersion conflicts. */
const store = new Map<string, unknown>();
let url = '';
let rv = 1;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const m = /\/namespaces\/([^/]+)\/(configmaps|leases)(?:\/([^/?]+))?/.exec(req.url ?? '');
    const send = (code: number, obj: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const status = (code: number, reason: string) => send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: reason });
    if (!m) return status(404, 'NotFound');
    // ConfigMaps keep the short key the assertions read; other kinds are prefixed with their resource.
    const key = (name: string) => (m[2] === 'configmaps' ? `${m[1]}/${name}` : `${m[1]}/${m[2]}/${name}`);
    if (req.method === 'GET') return store.has(key(m[3] ?? '')) ? send(200, store.get(key(m[3] ?? ''))) : status(404, 'NotFound');
    if (req.method === 'DELETE') return store.delete(key(m[3] ?? '')) ? send(200, { kind: 'Status', status: 'Success' }) : status(404, 'NotFound');
    const obj = JSON.parse(body) as { metadata: { name: string; resourceVersion?: string } };
    const k = key(obj.metadata.name);
    const cur = store.get(k) as { metadata: { resourceVersion?: string } } | undefined;
    if (req.method === 'POST' && cur) return status(409, 'AlreadyExists');
    if (req.method === 'PUT' && !cur) return status(404, 'NotFound');
    if (req.method === 'PUT' && obj.metadata.resourceVersion && obj.metadata.resourceVersion !== cur!.metadata.resourceVersion) return status(409, 'Conflict');
    obj.metadata.resourceVersion = String(rv++);
    store.set(k, obj);
    return send(req.method === 'POST' ? 201 : 200, obj);
  });
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

interface Counter {
  ran: string[];
}

/** A link with steps a, b, c that append to a shared log; `failAt` makes one step throw once. */
function link(id: string, events: string[], opts: { failAt?: { step: string; times: number }; liveSteps?: string[] } = {}): ChainLink<Counter> {
  const def = (live: boolean): ProcedureDefinition<Counter> => {
    const ids = live && opts.liveSteps ? opts.liveSteps : ['a', 'b', 'c'];
    return {
      name: id,
      release: 'r',
      namespace: 'ns',
      params: {},
      initialState: { ran: [] },
      steps: ids.map((s) => ({
        id: s,
        title: `${id} step ${s}`,
        destructive: s === 'b',
        plan: (st) => [`${id}/${s} after ${st.ran.length} step(s) of this link`],
        async run({ state }) {
          if (opts.failAt?.step === s && opts.failAt.times-- > 0) throw new Error(`${id}/${s} broke`);
          state.ran.push(s);
          events.push(`${id}/${s}`);
        },
      })),
      async preflight(st, done) {
        events.push(`preflight ${id} done=[${[...done].join(',')}] ran=[${st.ran.join(',')}]`);
      },
    };
  };
  return { id, title: `Link ${id}`, define: (live) => (live && events.push(`define ${id}`), def(live)) };
}

const opts = { dryRun: false, yes: true, resume: false, restart: false };

describe('composeChain', () => {
  it('runs every link in order under one checkpoint, starting each link only when it is reached', async () => {
    const events: string[] = [];
    const { ctx } = testContext({ kube: kubeForFixture(url) });
    const def = await composeChain({ name: 'chain1', release: 'r', namespace: 'ns', params: { to: '2.6.0' }, links: [link('one', events), link('two', events)] });
    expect(def.steps.map((s) => s.id)).toEqual(['one.a', 'one.b', 'one.c', 'two.a', 'two.b', 'two.c']);
    const summary = await runProcedure(ctx, def, opts);
    expect(summary.completed).toBe(true);
    expect(events).toEqual([
      'define one',
      'preflight one done=[] ran=[]',
      'one/a', 'one/b', 'one/c',
      'define two',
      'preflight two done=[] ran=[]',
      'two/a', 'two/b', 'two/c',
    ]);
    expect(summary.state.links).toEqual({ one: { ran: ['a', 'b', 'c'] }, two: { ran: ['a', 'b', 'c'] } });
    const cp = JSON.parse((store.get('ns/kubectl-milvus-chain1-r') as { data: Record<string, string> }).data['checkpoint.json']!);
    expect(cp.finished).toBe(true);
    expect(cp.completed.map((c: { id: string }) => c.id)).toEqual(def.steps.map((s) => s.id));
  });

  it('a failure in the second link stops there; --resume continues in that link with its state and done steps', async () => {
    const events: string[] = [];
    const mk = () => [link('one', events), link('two', events, { failAt: { step: 'b', times: 1 } })];
    const links = mk();
    const { ctx } = testContext({ kube: kubeForFixture(url) });
    await expect(runProcedure(ctx, await composeChain({ name: 'chain2', release: 'r', namespace: 'ns', params: {}, links }), opts)).rejects.toThrow(/step "two step b" failed: two\/b broke/);
    events.length = 0;
    // A new process: new definitions, the same failing link (now healed: times is 0 on this object).
    const again = await composeChain({ name: 'chain2', release: 'r', namespace: 'ns', params: {}, links });
    const summary = await runProcedure(ctx, again, { ...opts, resume: true });
    expect(summary.resumed).toBe(true);
    // Link one is never started again; link two starts with its done step and checkpointed state.
    expect(events).toEqual(['define two', 'preflight two done=[a] ran=[a]', 'two/b', 'two/c']);
    expect(summary.state.links.two).toEqual({ ran: ['a', 'b', 'c'] });
  });

  it('refuses an unfinished chain without --resume/--restart, and a resume with other parameters', async () => {
    const events: string[] = [];
    const { ctx } = testContext({ kube: kubeForFixture(url) });
    const broken = [link('one', events, { failAt: { step: 'c', times: 1 } })];
    await expect(runProcedure(ctx, await composeChain({ name: 'chain3', release: 'r', namespace: 'ns', params: { to: '2.6.1' }, links: broken }), opts)).rejects.toThrow();
    const def = await composeChain({ name: 'chain3', release: 'r', namespace: 'ns', params: { to: '2.6.2' }, links: [link('one', events)] });
    await expect(runProcedure(ctx, def, opts)).rejects.toThrow(/an unfinished chain3/);
    await expect(runProcedure(ctx, def, { ...opts, resume: true })).rejects.toThrow(/to: checkpoint "2.6.1", now "2.6.2"/);
  });

  it('stops before a link changes anything when its live steps differ from the plan', async () => {
    const events: string[] = [];
    const { ctx } = testContext({ kube: kubeForFixture(url) });
    const def = await composeChain({ name: 'chain4', release: 'r', namespace: 'ns', params: {}, links: [link('one', events), link('two', events, { liveSteps: ['a', 'x', 'c'] })] });
    await expect(runProcedure(ctx, def, opts)).rejects.toThrow(/Link two: the release changed since the plan \(steps planned: a, b, c; now: a, x, c\)/);
    expect(events.filter((e) => e.startsWith('two/'))).toEqual([]);
  });

  it('dry run: starts only the first link (its preflight runs), prints every link under its heading, changes nothing', async () => {
    const events: string[] = [];
    const { ctx, stderr } = testContext({ kube: kubeForFixture(url) });
    const def = await composeChain({ name: 'chain5', release: 'r', namespace: 'ns', params: {}, links: [link('one', events), link('two', events)] });
    await runProcedure(ctx, def, { ...opts, dryRun: true });
    expect(events).toEqual(['define one', 'preflight one done=[] ran=[]']);
    expect(stderr()).toMatch(/== Link one\n\n1\. one step a\n {5}one\/a after 0 step/);
    expect(stderr()).toMatch(/== Link two\n\n4\. two step a\n/);
    expect(stderr()).toContain('5. two step b [destructive]');
    expect(store.has('ns/kubectl-milvus-chain5-r')).toBe(false);
  });

  it('an interruption after any step of any link resumes to the end, every step run exactly once', async () => {
    const events: string[] = [];
    const links = [link('one', events), link('two', events)];
    const ids = (await composeChain({ name: 'x', release: 'r', namespace: 'ns', params: {}, links })).steps.map((s) => s.id);
    for (const [i, id] of ids.entries()) {
      const { ctx } = testContext({ kube: kubeForFixture(url) });
      ctx.env.KUBECTL_MILVUS_TEST_INTERRUPT_AFTER = id;
      const def = await composeChain({ name: 'chain6', release: 'r', namespace: 'ns', params: {}, links });
      await expect(runProcedure(ctx, def, { ...opts, resume: i > 0 })).rejects.toThrow(/interrupted/);
    }
    const { ctx } = testContext({ kube: kubeForFixture(url) });
    const summary = await runProcedure(ctx, await composeChain({ name: 'chain6', release: 'r', namespace: 'ns', params: {}, links }), { ...opts, resume: true });
    expect(summary.completed).toBe(true);
    expect(events.filter((e) => /^\w+\/\w$/.test(e))).toEqual(['one/a', 'one/b', 'one/c', 'two/a', 'two/b', 'two/c']);
  });
});

describe('composeChain refuses', () => {
  it('a link with two steps of one id (the second would be skipped as done)', async () => {
    const events: string[] = [];
    const dup: ChainLink<Counter> = { id: 'dup', title: 'Dup', define: () => ({ ...(link('dup', events).define(false) as ProcedureDefinition<Counter>), steps: [...(link('dup', events).define(false) as ProcedureDefinition<Counter>).steps, (link('dup', events).define(false) as ProcedureDefinition<Counter>).steps[0]!] }) };
    await expect(composeChain({ name: 'c', release: 'r', namespace: 'ns', params: {}, links: [dup] })).rejects.toThrow(/link "dup" has two steps with id "a"/);
  });
});

describe('composeChain passes on what it does not interpret', () => {
  it('optional step fields (ids they name mapped into the link) and the current link\'s restore commands', async () => {
    const events: string[] = [];
    const base = link('two', events).define(false) as ProcedureDefinition<Counter>;
    const withExtras: ChainLink<Counter> = {
      id: 'two',
      title: 'Two',
      define: () => ({
        ...base,
        steps: base.steps.map((s) => (s.id === 'a' ? Object.assign({ ...s }, { repeatUntil: 'b' }) : s)),
        restoreCommands: (st: Counter, done: ReadonlySet<string>) => [`undo after ${st.ran.join('+')} (done ${[...done].join(',')})`],
      }),
    };
    const def = await composeChain({ name: 'c7', release: 'r', namespace: 'ns', params: {}, links: [link('one', events), withExtras] });
    expect((def.steps.find((s) => s.id === 'two.a') as unknown as { repeatUntil?: string }).repeatUntil).toBe('two.b');
    const cs = def.initialState;
    await def.preflight(cs, new Set(['one.a', 'one.b', 'one.c', 'two.a']));
    cs.links.two = { ran: ['a'] };
    const restore = (def as unknown as { restoreCommands: (s: typeof cs, d: ReadonlySet<string>) => string[] }).restoreCommands;
    expect(restore(cs, new Set(['one.a', 'two.a']))).toEqual(['undo after a (done a)']);
  });
});
