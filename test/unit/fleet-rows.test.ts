/** fleetOptions (flags checked with no I/O) and the list row of a release: VERSION, READY, NEXT. */
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { fleetOptions } from '../../src/fleet/options.js';
import { listItem, shortRisk, topologyCell, versionCell } from '../../src/fleet/rows.js';
import { fixtureRelease } from './release-fixture.js';

const flags = (over: Partial<{ 'all-namespaces': boolean; 'all-contexts': boolean; 'max-parallel': string }> = {}) => ({ 'all-namespaces': false, 'all-contexts': false, 'max-parallel': '8', ...over });

describe('fleetOptions', () => {
  it.each([
    [flags({ 'all-namespaces': true }), {}, { allNamespaces: true, namespace: undefined, contexts: undefined, maxParallel: 8 }],
    [flags(), { namespace: 'ns' }, { allNamespaces: false, namespace: 'ns', contexts: undefined, maxParallel: 8 }],
    [flags({ 'max-parallel': '2' }), { context: 'a, b,a' }, { allNamespaces: false, namespace: undefined, contexts: ['a', 'b'], maxParallel: 2 }],
    [flags({ 'all-contexts': true }), {}, { contexts: 'all' }],
  ])('%j %j', (args, globals, want) => {
    expect(fleetOptions(args, globals)).toMatchObject(want);
  });
  it.each([
    [flags({ 'all-namespaces': true }), { namespace: 'ns' }, /-A\/--all-namespaces and -n\/--namespace exclude each other/],
    [flags({ 'all-contexts': true }), { context: 'a' }, /--all-contexts and --context exclude each other/],
    [flags({ 'max-parallel': '0' }), {}, /--max-parallel/],
    [flags({ 'max-parallel': '2.5' }), {}, /--max-parallel/],
    [flags(), { context: 'a,,b' }, /an empty context name/],
  ])('refuses %j %j', (args, globals, message) => {
    const err = (() => {
      try {
        fleetOptions(args, globals);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.USAGE);
    expect((err as CliError).message).toMatch(message);
  });
  it('in helm mode, -A wins over the namespace helm always passes', () => {
    expect(fleetOptions(flags({ 'all-namespaces': true }), { namespace: 'default' }, 'helm')).toMatchObject({ allNamespaces: true, namespace: undefined });
  });
});

const cluster = (v = '2.4.5', over: { pods?: string[]; ready?: number } = {}) => [
  { component: 'proxy' as const, template: v, ...over },
  { component: 'mixcoord' as const, template: v },
  { component: 'querynode' as const, template: v },
];

describe('list row', () => {
  it('a settled release on Pulsar v2: its version, every component ready, NEXT pulsar-upgrade', () => {
    const i = listItem({ release: fixtureRelease(cluster()), createdAt: '2026-01-01T00:00:00Z', unfinished: [] });
    expect([versionCell(i), i.mq, i.ready, i.next?.action, i.installedBy, topologyCell(i)]).toEqual(['2.4.5', 'pulsar-v2', '3/3', 'pulsar-upgrade', 'milvus-4.2.30', 'proxy:1,mixcoord:1,querynode:1']);
  });
  it('pods on two versions: "mixed" with the versions, NEXT finish the update', () => {
    const i = listItem({ release: fixtureRelease(cluster('2.4.6', { pods: ['2.4.5', '2.4.6'] })), createdAt: undefined, unfinished: [] });
    expect([versionCell(i), i.next?.action]).toEqual(['mixed (2.4.5, 2.4.6)', 'finish the update']);
    expect(i.versions).toEqual([{ version: '2.4.5', components: ['proxy'] }, { version: '2.4.6', components: ['proxy', 'mixcoord', 'querynode'] }]);
  });
  it('an unfinished procedure of ours comes first', () => {
    const i = listItem({ release: fixtureRelease(cluster('2.4.6', { pods: ['2.4.5', '2.4.6'] })), createdAt: undefined, unfinished: ['upgrade'] });
    expect(i.next?.action).toBe('resume upgrade');
  });
  it('a component not ready', () => {
    const i = listItem({ release: fixtureRelease(cluster('2.4.5', { pods: ['2.4.5'], ready: 0 })), createdAt: undefined, unfinished: [] });
    expect([i.ready, i.next?.action]).toEqual(['2/3', 'not ready']);
  });
  it('2.1.x: meta-migrate before pulsar-upgrade', () => {
    expect(listItem({ release: fixtureRelease(cluster('2.1.4')), createdAt: undefined, unfinished: [] }).next?.action).toBe('meta-migrate');
  });
  it('Pulsar v3 with no risk: rolling-update; pods not read: VERSION <unknown>', () => {
    const r = fixtureRelease(cluster('2.5.4'), { mq: 'pulsar-v3', pulsar: undefined, helm: { ...fixtureRelease([]).helm!, userValues: { pulsarv3: { enabled: true } }, computedValues: { pulsarv3: { enabled: true } } } });
    expect(listItem({ release: r, createdAt: undefined, unfinished: [] }).next?.action).toBe('rolling-update');
    const unread = { ...r, running: undefined, components: r.components.map((c) => ({ ...c, runningImages: undefined, running: undefined })) };
    expect(versionCell(listItem({ release: unread, createdAt: undefined, unfinished: [] }))).toBe('<unknown>');
  });
  it('a risk is cut to its first clause for the table', () => {
    expect(shortRisk('Milvus 2.1.x: changing the image to 2.2+ without meta-migrate makes collections disappear')).toBe('Milvus 2.1.x');
    expect(shortRisk('x'.repeat(80))).toHaveLength(50);
  });
});
