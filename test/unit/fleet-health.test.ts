/**
 * fleetHealth: releases of every context judged at most --max-parallel at once (each opens its own
 * port-forwards, so this bounds them), each with its context's cluster; one whose checks fail is
 * an error of that release, the others are still judged.
 */
import { describe, expect, it, vi } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import type { Release } from '../../src/release/types.js';
import { testContext } from './test-context.js';

const seen = vi.hoisted(() => ({ active: 0, max: 0, kubes: [] as string[] }));
vi.mock('../../src/health/health.js', () => ({
  checkHealth: async (ctx: { kube(): { contextName: string } }, release: Release) => {
    seen.active++;
    seen.max = Math.max(seen.max, seen.active);
    seen.kubes.push(`${ctx.kube().contextName}/${release.name}`);
    await new Promise((r) => setTimeout(r, 20));
    seen.active--;
    if (release.name === 'broken') throw new CliError('pods is forbidden', ExitCode.FORBIDDEN);
    return { kind: 'Health', release: release.name, namespace: release.namespace, status: 'ok', summary: { ok: 1, warning: 0, critical: 0 }, checks: [] };
  },
}));

const { fleetHealth } = await import('../../src/fleet/health.js');

const read = (context: string, names: string[]) => ({
  ok: {
    context,
    namespace: undefined,
    kube: { contextName: context } as never,
    releases: names.map((name) => ({ release: { name, namespace: 'ns' } as Release, createdAt: undefined, unfinished: [] })),
    warnings: [],
    calls: { lists: 8, requests: 8 },
  },
});

describe('fleetHealth', () => {
  it.each([1, 3])('--max-parallel %i: never more releases at once, each with its context, a failing one named', async (max) => {
    seen.active = 0;
    seen.max = 0;
    seen.kubes = [];
    const { ctx } = testContext();
    const out = await fleetHealth(ctx, [read('a', ['r1', 'broken', 'r3']), { error: { context: 'b', message: 'x', exitCode: 4 } }, read('c', ['r4', 'r5'])], { allNamespaces: true, namespace: undefined, contexts: ['a', 'b', 'c'], maxParallel: max }, true);
    expect(seen.max).toBe(max);
    expect(seen.kubes.sort()).toEqual(['a/broken', 'a/r1', 'a/r3', 'c/r4', 'c/r5']);
    expect(out.items.map((i) => `${i.context}/${i.release}`)).toEqual(['a/r1', 'a/r3', 'c/r4', 'c/r5']);
    expect(out.errors).toEqual([{ context: 'a', namespace: 'ns', release: 'broken', message: 'pods is forbidden', exitCode: ExitCode.FORBIDDEN }]);
  });
});
