import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { ACTIVE_STANDBY_YAML, missingActiveStandby, mountedUserConfig, sectionsFor, withActiveStandby } from '../../src/rolling-update/active-standby.js';
import type { Helm } from '../../src/helm/helm.js';
import { helmRollingUpdate, helmUpgradeArgs, undoCommands } from '../../src/rolling-update/helm-procedure.js';
import { deploymentUpdated, milvusReportsUpdated, operatorRollingUpdate } from '../../src/rolling-update/operator-procedure.js';
import { deploymentPatch, milvusPatch, topologyOf, updateOrder } from '../../src/rolling-update/order.js';
import { checkRelease, validateFlags, type ValidFlags } from '../../src/rolling-update/preflight.js';
import { imageChange, progressLine, summaryTable } from '../../src/rolling-update/progress.js';
import type { ComponentName, MilvusComponent, Release } from '../../src/release/types.js';
import { fixtureComponent, fixtureRelease } from './release-fixture.js';
import { testContext } from './test-context.js';

function deployment(component: string, o: { strategy?: string; image?: string; replicas?: number; ready?: number; gen?: number; observed?: number; minReady?: number; containers?: string[] } = {}): V1Deployment {
  const replicas = o.replicas ?? 1;
  const ready = o.ready ?? replicas;
  return {
    metadata: { name: `r-milvus-${component}`, generation: o.gen ?? 1 },
    spec: {
      replicas,
      selector: {},
      ...(o.minReady !== undefined ? { minReadySeconds: o.minReady } : {}),
      ...(o.strategy ? { strategy: { type: o.strategy } } : {}),
      template: { spec: { containers: (o.containers ?? [component]).map((name) => ({ name, image: o.image ?? 'milvusdb/milvus:v2.4.5' })) } },
    },
    status: { observedGeneration: o.observed ?? o.gen ?? 1, replicas, updatedReplicas: replicas, readyReplicas: ready, availableReplicas: ready },
  };
}

const comp = (component: ComponentName, name = `r-milvus-${component}`, o: Parameters<typeof deployment>[1] = {}): MilvusComponent => {
  const d = deployment(component, o);
  d.metadata!.name = name;
  return {
    component,
    name,
    deployment: d,
    image: o.image ?? 'milvusdb/milvus:v2.4.5',
    version: '2.4.5',
    replicas: o.replicas ?? 1,
    readyReplicas: o.ready ?? o.replicas ?? 1,
    updatedReplicas: o.replicas ?? 1,
    availableReplicas: o.ready ?? o.replicas ?? 1,
    strategy: o.strategy,
  };
};
const comps = (...names: string[]) => names.map((c) => comp(c as ComponentName));

describe('update order per topology (every component, none skipped)', () => {
  it('separate coordinators: the operator graph, indexnode first', () => {
    const cs = comps('proxy', 'querynode', 'rootcoord', 'datanode', 'indexnode', 'querycoord', 'datacoord', 'indexcoord');
    expect(topologyOf(cs)).toBe('separate-coordinators');
    expect(updateOrder(cs, false).map((c) => c.component)).toEqual(['indexnode', 'rootcoord', 'datacoord', 'indexcoord', 'querycoord', 'querynode', 'datanode', 'proxy']);
  });
  it('mixcoord (chart >= 4.2.4) updates mixcoord, which rollingUpdate.sh skips; reversed for a downgrade', () => {
    const cs = comps('proxy', 'mixcoord', 'datanode', 'querynode', 'indexnode');
    expect(topologyOf(cs)).toBe('mixcoord');
    expect(updateOrder(cs, false).map((c) => c.component)).toEqual(['indexnode', 'mixcoord', 'querynode', 'datanode', 'proxy']);
    expect(updateOrder(cs, { downgrade: true }).map((c) => c.component)).toEqual(['proxy', 'datanode', 'querynode', 'mixcoord', 'indexnode']);
  });
  it('streaming (2.6) updates streamingnode, keeps querynode groups together, and puts streaming nodes first when crossing into 2.6', () => {
    const cs = [comp('proxy'), comp('querynode', 'r-milvus-querynode-b'), comp('streamingnode'), comp('mixcoord'), comp('querynode', 'r-milvus-querynode-a'), comp('datanode')];
    expect(topologyOf(cs)).toBe('streaming');
    expect(updateOrder(cs, false).map((c) => c.name)).toEqual(['r-milvus-mixcoord', 'r-milvus-streamingnode', 'r-milvus-querynode-a', 'r-milvus-querynode-b', 'r-milvus-datanode', 'r-milvus-proxy']);
    expect(updateOrder(cs, { downgrade: false, fromVersion: '2.5.16', toVersion: '2.6.1' }).map((c) => c.component)).toEqual(['streamingnode', 'mixcoord', 'querynode', 'querynode', 'datanode', 'proxy']);
  });
  it('an unusual leftover component keeps a place instead of being skipped', () => {
    const cs = comps('proxy', 'indexnode', 'streamingnode', 'mixcoord', 'datanode', 'querynode');
    expect(updateOrder(cs, false).map((c) => c.component)).toEqual(['mixcoord', 'streamingnode', 'indexnode', 'querynode', 'datanode', 'proxy']);
  });
  it('standalone is one Deployment', () => {
    expect(topologyOf(comps('standalone'))).toBe('standalone');
    expect(updateOrder(comps('standalone'), false).map((c) => c.component)).toEqual(['standalone']);
  });
});

describe('deployment patch', () => {
  it('coordinator on Recreate: rolling strategy keeping the old pod until the new is ready, minReadySeconds, image of its own container, version label', () => {
    const c = comp('mixcoord', 'r-milvus-mixcoord', { strategy: 'Recreate', containers: ['sidecar', 'mixcoord'] });
    expect(deploymentPatch(c, 'milvusdb/milvus:v2.4.6', '2.4.6', { coordinatorMinReadySeconds: 30 })).toEqual({
      metadata: { labels: { 'app.kubernetes.io/version': '2.4.6' } },
      spec: {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        minReadySeconds: 30,
        template: { spec: { containers: [{ name: 'mixcoord', image: 'milvusdb/milvus:v2.4.6' }] } },
      },
    });
  });
  it('a node already on RollingUpdate keeps its settings; standalone keeps Recreate; the first container when none is named after the component', () => {
    expect(deploymentPatch(comp('querynode', 'q', { strategy: 'RollingUpdate' }), 'x:1', '1.0.0', { coordinatorMinReadySeconds: 30 }).spec).toEqual({
      template: { spec: { containers: [{ name: 'querynode', image: 'x:1' }] } },
    });
    expect(deploymentPatch(comp('standalone', 's', { strategy: 'Recreate' }), 'x:1', undefined).spec).not.toHaveProperty('strategy');
    expect(deploymentPatch(comp('proxy', 'p', { strategy: 'RollingUpdate', containers: ['milvus'] }), 'x:1', undefined).spec.template).toEqual({ spec: { containers: [{ name: 'milvus', image: 'x:1' }] } });
    // An existing, longer minReadySeconds is not shortened.
    expect(deploymentPatch(comp('rootcoord', 'rc', { strategy: 'RollingUpdate', minReady: 60 }), 'x:1', undefined, { coordinatorMinReadySeconds: 30 }).spec).not.toHaveProperty('minReadySeconds');
  });
});

describe('operator merge patch and completion', () => {
  it('only the changed fields, imageUpdateMode from --mode, version only when pinned', () => {
    expect(milvusPatch('milvusdb/milvus:v2.4.6', 'rolling', { version: '2.4.6', pinsVersion: false })).toEqual({ spec: { components: { image: 'milvusdb/milvus:v2.4.6', enableRollingUpdate: true, imageUpdateMode: 'rollingUpgrade' } } });
    expect(milvusPatch('i:2', 'downgrade', { version: '2.4.4', pinsVersion: true }).spec.components).toMatchObject({ imageUpdateMode: 'rollingDowngrade', version: '2.4.4' });
    expect(milvusPatch('i:2', 'all', { version: '2.4.4', pinsVersion: false }).spec.components.imageUpdateMode).toBe('all');
  });
  it('a Deployment counts only when observed, rolled out and on the image; an idle one (0 replicas) is not waited on', () => {
    const d = deployment('querynode', { image: 'i:2' });
    d.metadata!.labels = { 'app.kubernetes.io/component': 'querynode' };
    expect(deploymentUpdated(d, 'i:2')).toBe(true);
    expect(deploymentUpdated(d, 'i:3')).toBe(false);
    expect(deploymentUpdated({ ...d, metadata: { ...d.metadata, generation: 5 } }, 'i:2')).toBe(false);
    const idle = deployment('querynode', { image: 'i:1', replicas: 0 });
    expect(deploymentUpdated(idle, 'i:2')).toBe(true);
  });
  it('the resource must be Healthy and MilvusUpdated for its current generation', () => {
    const m = (status: string, updated: string, observed: number) => ({ metadata: { name: 'm', generation: 4 }, status: { status, observedGeneration: observed, conditions: [{ type: 'MilvusUpdated', status: updated }] } });
    expect(milvusReportsUpdated(m('Healthy', 'True', 4))).toBe(true);
    expect(milvusReportsUpdated(m('Healthy', 'True', 3))).toBe(false); // stale status from before the patch
    expect(milvusReportsUpdated(m('Unhealthy', 'True', 4))).toBe(false);
    expect(milvusReportsUpdated(m('Healthy', 'False', 4))).toBe(false);
  });
});

describe('active-standby switch', () => {
  const mounted = (cm: string, key: string): V1Deployment => ({
    spec: {
      selector: {},
      template: {
        spec: {
          containers: [{ name: 'mixcoord', volumeMounts: [{ name: 'cfg', mountPath: '/milvus/configs/default.yaml', subPath: 'default.yaml' }, { name: 'cfg', mountPath: '/milvus/configs/user.yaml', subPath: key }] }],
          volumes: [{ name: 'cfg', configMap: { name: cm } }],
        },
      },
    },
  });
  it('finds the ConfigMap and key the pods really mount (fullname is not always <release>-milvus)', () => {
    expect(mountedUserConfig(mounted('milvus-prod', 'user.yaml'), 'mixcoord')).toEqual({ configMap: 'milvus-prod', key: 'user.yaml' });
    const old: V1Deployment = { spec: { selector: {}, template: { spec: { containers: [{ name: 'rootcoord', volumeMounts: [{ name: 'c', mountPath: '/milvus/configs/milvus.yaml', subPath: 'milvus.yaml' }] }], volumes: [{ name: 'c', configMap: { name: 'r-milvus' } }] } } } };
    expect(mountedUserConfig(old, 'rootcoord')).toEqual({ configMap: 'r-milvus', key: 'milvus.yaml' });
    expect(mountedUserConfig({ spec: { selector: {}, template: { spec: { containers: [{ name: 'x' }] } } } })).toBeUndefined();
  });
  it('checks the effective value (default.yaml, overridden by the user file) of the sections the coordinators read', () => {
    expect(sectionsFor(['mixcoord'])).toEqual(['rootCoord', 'queryCoord', 'dataCoord']);
    expect(sectionsFor(['rootcoord', 'indexcoord'])).toEqual(['rootCoord', 'indexCoord']);
    const cm = (def: string, user: string): V1ConfigMap => ({ data: { 'default.yaml': def, 'user.yaml': user } });
    const all = 'rootCoord:\n  enableActiveStandby: true\nqueryCoord:\n  enableActiveStandby: true\ndataCoord:\n  enableActiveStandby: true\n';
    expect(missingActiveStandby(cm(all, '# user configuration\n'), 'user.yaml', sectionsFor(['mixcoord']))).toEqual([]);
    expect(missingActiveStandby(cm(all, 'queryCoord:\n  enableActiveStandby: false\n'), 'user.yaml', sectionsFor(['mixcoord']))).toEqual(['queryCoord']);
    // The chart writes mq (and messageQueue) twice for a standalone on the pulsarv3 default: still read.
    expect(missingActiveStandby(cm(`${all}mq:\n  type: pulsar\nmq:\n  type: rocksmq\n`, '# user configuration\n'), 'user.yaml', sectionsFor(['mixcoord']))).toEqual([]);
    expect(missingActiveStandby(cm('rootCoord:\n  enableActiveStandby: false\n', ''), 'user.yaml', ['rootCoord', 'dataCoord'])).toEqual(['rootCoord', 'dataCoord']);
  });
  it('appends upstream’s block when the file has none of the sections (comments kept), else merges without duplicate keys', () => {
    expect(withActiveStandby('# user configuration\n')).toBe(`# user configuration\n${ACTIVE_STANDBY_YAML}\n`);
    expect(withActiveStandby(undefined)).toBe(`${ACTIVE_STANDBY_YAML}\n`);
    const merged = yaml.load(withActiveStandby('rootCoord:\n  dmlChannelNum: 16\nproxy:\n  maxNameLength: 255\n')) as Record<string, Record<string, unknown>>;
    expect(merged.rootCoord).toEqual({ dmlChannelNum: 16, enableActiveStandby: true });
    expect(merged.proxy).toEqual({ maxNameLength: 255 });
    for (const s of ['queryCoord', 'dataCoord', 'indexCoord']) expect(merged[s]).toEqual({ enableActiveStandby: true });
  });
});

describe('flags', () => {
  const v = (o: Partial<Parameters<typeof validateFlags>[0]>) => validateFlags({ image: 'milvusdb/milvus:v2.4.6', targetVersion: undefined, sourceVersion: undefined, mode: 'rolling', ...o });
  const code = (fn: () => unknown) => {
    try {
      fn();
      return 0;
    } catch (e) {
      return (e as CliError).exitCode;
    }
  };
  it('requires an image with a tag, a known version and a known mode (exit 2)', () => {
    expect(v({})).toEqual({ image: 'milvusdb/milvus:v2.4.6', targetVersion: '2.4.6', sourceVersion: undefined, mode: 'rolling' });
    expect(code(() => v({ image: undefined }))).toBe(ExitCode.USAGE);
    expect(code(() => v({ image: 'milvusdb/milvus' }))).toBe(ExitCode.USAGE);
    expect(code(() => v({ image: 'Milvus:v1 ; rm' }))).toBe(ExitCode.USAGE);
    expect(code(() => v({ mode: 'force' }))).toBe(ExitCode.USAGE);
    expect(code(() => v({ image: 'registry.local:5000/milvus:custom' }))).toBe(ExitCode.USAGE); // no version in the tag
    expect(v({ image: 'registry.local:5000/milvus:custom', targetVersion: 'v2.4.6' }).targetVersion).toBe('2.4.6');
    expect(code(() => v({ targetVersion: '2.4.7' }))).toBe(ExitCode.USAGE); // contradicts the tag
    expect(code(() => v({ targetVersion: '2.4' }))).toBe(ExitCode.USAGE);
  });
});

describe('release preflight (exit 7, before anything changes)', () => {
  const flags = (image = 'milvusdb/milvus:v2.4.6', mode: ValidFlags['mode'] = 'rolling'): ValidFlags => validateFlags({ image, targetVersion: undefined, sourceVersion: undefined, mode });
  /** A release whose components' templates and pods all run `version`. */
  const release = (version = '2.4.5', names: ComponentName[] = ['mixcoord', 'proxy'], o: Partial<Release> = {}): Release =>
    fixtureRelease(names.map((component) => ({ component, template: version })), o);
  const err = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      return e as CliError;
    }
    return undefined;
  };
  it('refuses jumps the upgrade guides do not document, by the rule the planner uses, naming what can', () => {
    const streaming: ComponentName[] = ['mixcoord', 'proxy', 'streamingnode'];
    const cases: Array<[string, Release, string, ValidFlags['mode'], string | undefined]> = [
      ['2.4 -> 2.5', release(), 'milvusdb/milvus:v2.5.4', 'rolling', undefined],
      ['2.2.16 -> 2.4.6: "from v2.2.3 or later" in one rolling upgrade', release('2.2.16'), 'milvusdb/milvus:v2.4.6', 'rolling', undefined],
      ['2.3 -> 2.5', release('2.3.21'), 'milvusdb/milvus:v2.5.4', 'rolling', undefined],
      ['2.5.16 -> 2.6 without a streaming node', release('2.5.16'), 'milvusdb/milvus:v2.6.1', 'rolling', 'kubectl milvus upgrade r -n ns --to 2.6.1'],
      ['2.5.4 -> 2.6: below 2.5.16', release('2.5.4', streaming), 'milvusdb/milvus:v2.6.1', 'rolling', '2.6 needs 2.5.16 or later running mixcoord first'],
      ['2.5.16 -> 2.6 with a streaming node', release('2.5.16', streaming), 'milvusdb/milvus:v2.6.1', 'rolling', undefined],
      ['2.6 -> 2.4 downgrade', release('2.6.1', streaming), 'milvusdb/milvus:v2.4.6', 'downgrade', 'no documented way back'],
      ['2.5 -> 2.3 downgrade', release('2.5.4'), 'milvusdb/milvus:v2.3.21', 'downgrade', 'go back to the latest 2.4.x first'],
      ['3.0 from 2.6', release('2.6.1', streaming), 'milvusdb/milvus:v3.0.0', 'rolling', 'crosses a major version'],
    ];
    for (const [what, rel, image, mode, refused] of cases) {
      const e = err(() => checkRelease(rel, flags(image, mode), 'kubectl milvus'));
      if (refused === undefined) expect(e, what).toBeUndefined();
      else {
        expect(e?.exitCode, what).toBe(ExitCode.PRECONDITION);
        expect(`${e?.message} ${e?.hint}`, what).toContain(refused);
      }
    }
  });
  it('passes a healthy 2.4 release', () => {
    expect(err(() => checkRelease(release(), flags(), 'kubectl milvus'))).toBeUndefined();
  });
  it('sends 2.1.x to meta-migrate and refuses sources before 2.2.3', () => {
    const e = err(() => checkRelease(release('2.1.4'), flags(), 'kubectl milvus'))!;
    expect(e.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e.hint).toContain('kubectl milvus meta-migrate r -n ns --source-version 2.1.4 --target-version 2.2.x');
    expect(err(() => checkRelease(release('2.2.2'), flags(), 'kubectl milvus'))!.message).toContain('rolling updates need 2.2.3 or later');
  });
  it('refuses an unhealthy component, an accidental downgrade, and a downgrade flag on a newer image', () => {
    const sick = fixtureRelease([{ component: 'mixcoord', template: '2.4.5' }, { component: 'proxy', template: '2.4.5', replicas: 2, ready: 1 }]);
    expect(err(() => checkRelease(sick, flags(), 'p'))!.message).toContain('r-milvus-proxy (1/2 ready');
    expect(err(() => checkRelease(release(), flags('milvusdb/milvus:v2.4.1'), 'p'))!.message).toContain('pass --mode downgrade');
    expect(err(() => checkRelease(release(), flags('milvusdb/milvus:v2.4.1', 'downgrade'), 'p'))).toBeUndefined();
    expect(err(() => checkRelease(release(), flags('milvusdb/milvus:v2.4.9', 'downgrade'), 'p'))!.message).toContain('use --mode rolling');
  });
  it('decides from the pods: a template already on the target does not hide pods on the old version; a paused rollout is refused', () => {
    // Paused after a template change: the pods run 2.3.21, 2.3 -> 2.5 is allowed, but nothing would roll.
    const paused = fixtureRelease([{ component: 'mixcoord', template: '2.5.4', pods: ['2.3.21'], paused: true }, { component: 'proxy', template: '2.3.21' }]);
    expect(paused.milvusVersion).toBe('2.3.21');
    const e = err(() => checkRelease(paused, flags('milvusdb/milvus:v2.5.4'), 'p'))!;
    expect(e.message).toContain('deployment/r-milvus-mixcoord is paused');
    expect(e.hint).toContain('kubectl rollout resume deployment/r-milvus-mixcoord -n ns');
    // A component already newer than the target would be taken down by an "update".
    const ahead = fixtureRelease([{ component: 'mixcoord', template: '2.4.7' }, { component: 'proxy', template: '2.4.5' }]);
    expect(err(() => checkRelease(ahead, flags('milvusdb/milvus:v2.4.6'), 'p'))!.message).toContain('components run 2.4.5, 2.4.7: a newer version than the target 2.4.6 runs');
  });
  it('refuses standalone with an embedded message queue, a pending Helm release, an unhealthy Milvus resource', () => {
    expect(err(() => checkRelease(release('2.4.5', ['standalone'], { mq: 'rocksmq' }), flags(), 'p'))!.message).toContain('standalone Milvus with rocksmq cannot roll');
    expect(err(() => checkRelease(release('2.4.5', ['standalone'], { mq: 'natsmq' }), flags(), 'p'))!.message).toContain('natsmq');
    expect(err(() => checkRelease(release('2.4.5', ['standalone'], { mq: 'pulsar-v3' }), flags(), 'p'))).toBeUndefined();
    expect(err(() => checkRelease(release('2.4.5', undefined, { helm: { status: 'pending-upgrade' } as Release['helm'] }), flags(), 'p'))!.message).toContain('pending-upgrade');
    expect(err(() => checkRelease(release('2.4.5', undefined, { method: 'operator', operator: { status: 'Unhealthy' } as Release['operator'] }), flags(), 'p'))!.message).toContain('not Healthy');
  });
  it('asks for --source-version when the tags carry none, and never takes the template when the pods could not be read', () => {
    expect(err(() => checkRelease(release('2.4.5', undefined, { components: [fixtureComponent({ component: 'proxy', template: 'milvusdb/milvus:latest' })] }), flags(), 'p'))!.hint).toBe('pass --source-version X.Y.Z');
    const unread = release();
    unread.components = unread.components.map((c) => ({ ...c, runningImages: undefined, running: undefined }));
    expect(err(() => checkRelease(unread, flags(), 'p'))!.message).toContain('the pods of release "r" could not be read');
  });
});

describe('a resume re-checks the release for the steps still to do (never "a step is done, skip the checks")', () => {
  const image = 'milvusdb/milvus:v2.4.6';
  const flags = validateFlags({ image, targetVersion: undefined, sourceVersion: undefined, mode: 'rolling' });
  const viaHelm = { helm: {} as Helm, chart: 'zilliztech/milvus', chartVersion: undefined };
  /** A --via-helm run interrupted after its helm upgrade and the mixcoord watch: proxy still rolling. */
  const interrupted = (o: { mixcoord?: string; proxyPods?: string[]; helmStatus?: string } = {}) => {
    const r = fixtureRelease([
      { component: 'mixcoord', template: o.mixcoord ?? '2.4.6' },
      { component: 'proxy', template: '2.4.6', pods: o.proxyPods ?? ['2.4.5', '2.4.6'], replicas: 2 },
    ]);
    if (o.helmStatus) r.helm!.status = o.helmStatus;
    return r;
  };
  const preflight = async (r: Release) => {
    const first = fixtureRelease([{ component: 'mixcoord', template: '2.4.5' }, { component: 'proxy', template: '2.4.5', replicas: 2 }]);
    const state = helmRollingUpdate(testContext().ctx, first, { flags, timeoutMs: 1000, coordinatorMinReadySeconds: 0, backupDir: '/tmp/x', viaHelm }).initialState;
    const def = helmRollingUpdate(testContext().ctx, r, { flags, timeoutMs: 1000, coordinatorMinReadySeconds: 0, backupDir: '/tmp/x', viaHelm });
    return def.preflight(state, new Set(['helm-upgrade', 'watch-r-milvus-mixcoord'])).then(() => undefined, (e: CliError) => e);
  };

  it('continues the run it recorded', async () => {
    expect(await preflight(interrupted())).toBeUndefined();
  });
  it('refuses when Helm is not deployed any more', async () => {
    expect((await preflight(interrupted({ helmStatus: 'pending-rollback' })))?.message).toContain('in state "pending-rollback"');
  });
  it('refuses when an updated component runs another version now (rolled back by hand)', async () => {
    const e = await preflight(interrupted({ mixcoord: '2.4.5' }));
    expect(e?.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e?.message).toContain('deployment/r-milvus-mixcoord was updated to milvusdb/milvus:v2.4.6, and runs milvusdb/milvus:v2.4.5 now');
  });
  it('refuses when a component still to do runs a version the run never planned', async () => {
    const e = await preflight(interrupted({ proxyPods: ['2.4.7', '2.4.6'] }));
    expect(e?.message).toContain('deployment/r-milvus-proxy was planned from milvusdb/milvus:v2.4.5, and runs milvusdb/milvus:v2.4.7 now');
  });
  it('Operator: after the patch, refuses when the resource asks for another image', async () => {
    const r = fixtureRelease([{ component: 'proxy', template: '2.4.6' }], { method: 'operator', operator: { resource: { metadata: { name: 'r' }, spec: { components: { image: 'milvusdb/milvus:v2.4.7' } } }, status: 'Updating' } });
    const def = operatorRollingUpdate(testContext().ctx, r, { flags, timeoutMs: 1000 });
    const e = await def.preflight({ ...def.initialState, patchedAt: '2026-01-01T00:00:00Z' }, new Set(['patch-milvus'])).then(() => undefined, (x: CliError) => x);
    expect(e?.message).toContain('milvus/r asks for milvusdb/milvus:v2.4.7 now, not milvusdb/milvus:v2.4.6');
    r.operator!.resource.spec!.components.image = image;
    expect(await def.preflight(def.initialState, new Set(['patch-milvus']))).toBeUndefined();
  });
});

describe('helm path commands and output', () => {
  it('--via-helm: reset-then-reuse-values, the image split into repository and tag, active-standby values of the coordinators', () => {
    expect(helmUpgradeArgs('r', 'zilliztech/milvus', '4.2.10', 'milvusdb/milvus:v2.4.6', ['mixcoord'])).toEqual([
      'upgrade', 'r', 'zilliztech/milvus', '--version', '4.2.10', '--reset-then-reuse-values',
      '--set', 'image.all.repository=milvusdb/milvus', '--set', 'image.all.tag=v2.4.6', '--set', 'mixCoordinator.activeStandby.enabled=true',
    ]);
    expect(helmUpgradeArgs('r', './chart', undefined, 'reg:5000/m/milvus:v2.4.6', [])).toContain('image.all.repository=reg:5000/m/milvus');
  });
  it('undo commands, newest first', () => {
    expect(undoCommands(['r-milvus-indexnode', 'r-milvus-mixcoord'], 'ns')).toEqual([
      'kubectl rollout undo deployment/r-milvus-mixcoord -n ns',
      'kubectl rollout undo deployment/r-milvus-indexnode -n ns',
    ]);
  });
  it('progress lines and the summary table', () => {
    expect(imageChange('milvusdb/milvus:v2.4.5', 'milvusdb/milvus:v2.4.6')).toBe('milvusdb/milvus:v2.4.5 -> v2.4.6');
    expect(imageChange('a/b:1', 'c/d:2')).toBe('a/b:1 -> c/d:2');
    const d = deployment('proxy', { replicas: 3, ready: 1 });
    expect(progressLine('proxy', 'milvusdb/milvus:v2.4.5', 'milvusdb/milvus:v2.4.6', d, 12_300)).toBe('proxy: milvusdb/milvus:v2.4.5 -> v2.4.6  updated 3/3  available 1/3  12.3s');
    const t = summaryTable([{ component: 'proxy', deployment: 'r-milvus-proxy', from: 'a:1', to: 'a:2', durationMs: 4200, status: 'updated' }]);
    expect(t.split('\n')[0]).toMatch(/^COMPONENT +DEPLOYMENT +FROM +TO +STATUS +DURATION$/);
    expect(t).toMatch(/proxy +r-milvus-proxy +a:1 +a:2 +updated +4\.2s/);
  });
});
