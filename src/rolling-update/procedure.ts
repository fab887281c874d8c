/**
 * rolling-update: what upstream rollingUpdate.sh means, done correctly. Helm releases: coordinators
 * switched to active-standby in the chart's real ConfigMap (backed up first), then each Milvus
 * Deployment patched one at a time in the topology's order and watched to completion with
 * kubectl's rollout rules; the first failed rollout stops the run with the rollback commands.
 * Operator releases: one merge patch of spec.components (image, enableRollingUpdate,
 * imageUpdateMode), then the resource AND every Deployment are followed until updated and healthy.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { backupSecretName, saveBackup } from '../backup/backup.js';
import { MILVUS_GROUP, MILVUS_VERSION, mergePatch, strategicMergePatch } from '../kube/client.js';
import { waitForRollout } from '../kube/rollout.js';
import { elapsed } from '../output/duration.js';
import type { ProcedureDefinition, Step } from '../procedure/engine.js';
import { discoverRelease } from '../release/discover.js';
import type { MilvusComponent, Release } from '../release/types.js';
import { versionAtLeast, versionBelow, versionFromImage } from '../release/version.js';
import type { Helm } from '../helm/helm.js';
import { ACTIVE_STANDBY_YAML, COORDINATORS, deploymentPatch, topologyOf, updateOrder } from './order.js';

export const PROCEDURE = 'rolling-update';
export type Mode = 'rolling' | 'all' | 'downgrade';

export interface RollingUpdateOptions {
  /** Upgrade through helm (durable) instead of patching Deployments. */
  viaHelm?: { helm: Helm; chart: string; chartVersion: string | undefined };
  image: string;
  targetVersion: string | undefined;
  mode: Mode;
  timeoutMs: number;
  backupDir: string;
}

export interface ComponentResult {
  component: string;
  deployment: string;
  from: string;
  to: string;
  durationMs: number;
}

export interface RollingUpdateState {
  image: string;
  version: string | undefined;
  order: Array<{ component: string; deployment: string; from: string }>;
  updated: ComponentResult[];
  configMapBackup: string | undefined;
}

const IMAGE_MODE: Record<Mode, string> = { rolling: 'rollingUpgrade', downgrade: 'rollingDowngrade', all: 'all' };

function preflight(ctx: RunContext, r: Release, opts: RollingUpdateOptions): void {
  if (r.components.length === 0) throw preconditionError(`release "${r.name}" has no Milvus Deployments (stopped?)`);
  const unready = r.components.filter((c) => c.readyReplicas < c.replicas || c.updatedReplicas < c.replicas);
  if (unready.length) throw preconditionError(`not every component is healthy before the update: ${unready.map((c) => c.name).join(', ')}`);
  const v = r.milvusVersion;
  if (v && versionAtLeast(v, '2.1.0') && versionBelow(v, '2.2.0')) {
    throw preconditionError(`Milvus ${v} is 2.1.x: its metadata must be migrated first`, `use "${ctx.commandPrefix} meta-migrate ${r.name}" (2.1.x -> 2.2.x), then rolling-update`);
  }
  if (v && versionBelow(v, '2.2.3')) throw preconditionError(`Milvus ${v} cannot be updated without downtime: rolling updates need 2.2.3 or later`);
  if (r.mode === 'standalone' && (r.mq === 'rocksmq' || r.mq === 'natsmq')) {
    throw preconditionError(`standalone Milvus with ${r.mq} cannot roll: upgrade it with a restart`);
  }
  const target = opts.targetVersion ?? versionFromImage(opts.image);
  if (opts.mode !== 'downgrade' && v && target && versionBelow(target, v)) {
    throw preconditionError(`${opts.image} (${target}) is older than the running ${v}: pass --mode downgrade to go back`);
  }
}

async function enableActiveStandby(ctx: RunContext, r: Release, state: RollingUpdateState, backupDir: string, log: (m: string) => void) {
  const kube = ctx.kube();
  const name = r.helm!.fullname;
  const ns = r.namespace;
  const cm: V1ConfigMap = await kube.call({ verb: 'get', resource: 'configmaps', namespace: ns, name }, () => kube.core.readNamespacedConfigMap({ name, namespace: ns }));
  const key = 'user.yaml' in (cm.data ?? {}) ? 'user.yaml' : 'user.yaml';
  const current = cm.data?.[key] ?? '';
  const parsed = (yaml.load(current) as Record<string, Record<string, unknown>> | null) ?? {};
  const already = ['rootCoord', 'queryCoord', 'dataCoord', 'indexCoord'].every((k) => parsed?.[k]?.enableActiveStandby === true);
  if (already) {
    log(`configmap/${name} already enables active-standby`);
    return;
  }
  const saved = await saveBackup(ctx, { namespace: ns, release: r.name, procedure: PROCEDURE, dir: backupDir }, { [`configmap-${name}.yaml`]: yaml.dump(cm) });
  state.configMapBackup = saved.secret;
  const merged = { ...(parsed ?? {}) } as Record<string, Record<string, unknown>>;
  for (const k of ['rootCoord', 'queryCoord', 'dataCoord', 'indexCoord']) merged[k] = { ...(merged[k] ?? {}), enableActiveStandby: true };
  const text = `${yaml.dump(merged)}`;
  await kube.call({ verb: 'patch', resource: 'configmaps', namespace: ns, name }, () =>
    kube.core.patchNamespacedConfigMap({ name, namespace: ns, body: { data: { [key]: text } } }, mergePatch),
  );
  log(`configmap/${name} ${key}: active-standby enabled for the coordinators (a later "helm upgrade" reverts it; set <coord>.activeStandby.enabled in your values)`);
  void ACTIVE_STANDBY_YAML;
}

function rollbackHint(ctx: RunContext, state: RollingUpdateState, ns: string): string {
  const undo = state.updated.map((u) => `kubectl rollout undo deployment/${u.deployment} -n ${ns}`);
  return (
    (undo.length ? `to go back: ${undo.join('; ')}. ` : '') +
    `Or fix the cause (e.g. the image) and rerun "${ctx.commandPrefix} rolling-update ... --resume"`
  );
}

export function helmRollingUpdate(ctx: RunContext, r: Release, opts: RollingUpdateOptions): ProcedureDefinition<RollingUpdateState> {
  const ns = r.namespace;
  const ordered = updateOrder(r.components, opts.mode === 'downgrade');
  const version = opts.targetVersion ?? versionFromImage(opts.image);
  const coords = r.components.filter((c) => COORDINATORS.has(c.component));
  const state: RollingUpdateState = {
    image: opts.image,
    version,
    order: ordered.map((c) => ({ component: c.component, deployment: c.name, from: c.image ?? '' })),
    updated: [],
    configMapBackup: undefined,
  };
  const patchOne = async (c: MilvusComponent, st: RollingUpdateState, log: (m: string) => void) => {
    const kube = ctx.kube();
    const t0 = Date.now();
    await kube.call({ verb: 'patch', resource: 'deployments.apps', namespace: ns, name: c.name }, () =>
      kube.apps.patchNamespacedDeployment({ name: c.name, namespace: ns, body: deploymentPatch(c, opts.image, version) }, strategicMergePatch),
    );
    if (!st.updated.some((u) => u.deployment === c.name)) st.updated.push({ component: c.component, deployment: c.name, from: c.image ?? '', to: opts.image, durationMs: 0 });
    let last = '';
    try {
      await waitForRollout(kube, ns, c.name, {
        timeoutMs: opts.timeoutMs,
        signal: ctx.signal,
        onUpdate: (d) => {
          const line = `${c.component}: ${c.image} -> ${opts.image}, ${d.status?.updatedReplicas ?? 0}/${d.spec?.replicas ?? 0} updated, ${d.status?.availableReplicas ?? 0} available, ${elapsed(Date.now() - t0)}`;
          if (line !== last && (d.status?.updatedReplicas ?? 0) !== Number(last.split(' updated')[0]?.split(', ').pop()?.split('/')[0])) log(line);
          last = line;
        },
      });
    } catch (e) {
      if (e instanceof CliError) throw new CliError(`rollout of deployment/${c.name} failed: ${e.message}`, e.exitCode, rollbackHint(ctx, st, ns));
      throw e;
    }
    const u = st.updated.find((x) => x.deployment === c.name)!;
    u.durationMs = Date.now() - t0;
    log(`${c.component} rolled out in ${elapsed(u.durationMs)}`);
  };
  const steps: Step<RollingUpdateState>[] = [];
  if (opts.viaHelm) {
    const { helm, chart } = opts.viaHelm;
    const chartVersion = opts.viaHelm.chartVersion ?? r.helm?.chartVersion;
    const colon = opts.image.lastIndexOf(':');
    const repo = opts.image.slice(0, colon);
    const tag = opts.image.slice(colon + 1);
    const valueKey: Record<string, string> = { mixcoord: 'mixCoordinator', rootcoord: 'rootCoordinator', datacoord: 'dataCoordinator', querycoord: 'queryCoordinator', indexcoord: 'indexCoordinator' };
    const sets = [`image.all.repository=${repo}`, `image.all.tag=${tag}`, ...coords.map((c) => `${valueKey[c.component]}.activeStandby.enabled=true`)];
    const args = ['upgrade', r.name, chart, ...(chartVersion ? ['--version', chartVersion] : []), '--reset-then-reuse-values', ...sets.flatMap((x) => ['--set', x])];
    steps.push({
      id: 'helm-upgrade',
      title: `helm upgrade ${r.name} to ${opts.image} (durable: kept in the release values)`,
      destructive: true,
      plan: () => [`helm ${args.join(' ')} -n ${ns}`],
      async run() {
        await helm.requireVersion('3.14.0');
        await helm.run(args);
      },
    });
    for (const c of ordered) {
      steps.push({
        id: `watch-${c.name}`,
        title: `Watch ${c.component} (deployment/${c.name}) roll out`,
        plan: () => [`kubectl rollout status deployment/${c.name} -n ${ns}`],
        async run({ state: st, log }) {
          const t0 = Date.now();
          try {
            await waitForRollout(ctx.kube(), ns, c.name, { timeoutMs: opts.timeoutMs, signal: ctx.signal });
          } catch (e) {
            if (e instanceof CliError) throw new CliError(`rollout of deployment/${c.name} failed: ${e.message}`, e.exitCode, `to go back: helm rollback ${r.name} -n ${ns}`);
            throw e;
          }
          st.updated.push({ component: c.component, deployment: c.name, from: c.image ?? '', to: opts.image, durationMs: Date.now() - t0 });
          log(`${c.component} rolled out in ${elapsed(Date.now() - t0)}`);
        },
      });
    }
  } else if (coords.length > 0) {
    // Always planned when coordinators exist, so an interrupted run and its resume have the same steps.
    steps.push({
      id: 'active-standby',
      title: 'Switch the coordinators to active-standby',
      destructive: true,
      plan: () => [`merge enableActiveStandby: true for rootCoord, queryCoord, dataCoord, indexCoord into configmap/${r.helm!.fullname} key user.yaml (backed up first; skipped when already set)`],
      run: ({ state: st, log }) => enableActiveStandby(ctx, r, st, opts.backupDir, log),
    });
  }
  if (opts.viaHelm) {
    // helm changes every Deployment at once; the watch steps above follow them in order.
  } else if (opts.mode === 'all') {
    steps.push({
      id: 'update-all',
      title: `Update every component to ${opts.image} at once`,
      destructive: true,
      plan: () => ordered.map((c) => `kubectl patch deployment/${c.name} -n ${ns} (image ${opts.image})`),
      async run({ state: st, log }) {
        await Promise.all(ordered.map((c) => patchOne(c, st, log)));
      },
    });
  } else {
    for (const c of ordered) {
      steps.push({
        id: `update-${c.name}`,
        title: `Update ${c.component} (deployment/${c.name})`,
        destructive: true,
        plan: () => [`kubectl patch deployment/${c.name} -n ${ns}: image ${c.image} -> ${opts.image}${version ? `, label app.kubernetes.io/version=${version}` : ''}; wait for the rollout`],
        run: ({ state: st, log }) => patchOne(c, st, log),
      });
    }
  }
  return {
    name: PROCEDURE,
    release: r.name,
    namespace: ns,
    params: { method: opts.viaHelm ? 'helm-upgrade' : 'helm', image: opts.image, mode: opts.mode },
    initialState: state,
    steps,
    confirmQuestion: `A later "helm upgrade" of ${r.name} reverts these patched images unless image.all.tag is set to the new version in your values.`,
    async preflight(_st, done) {
      if (done.size === 0) preflight(ctx, r, opts);
      ctx.log.debug(1, `topology ${topologyOf(r.components)}`);
    },
  };
}

export function operatorRollingUpdate(ctx: RunContext, r: Release, opts: RollingUpdateOptions): ProcedureDefinition<RollingUpdateState> {
  const ns = r.namespace;
  const name = r.name;
  const body = { spec: { components: { image: opts.image, enableRollingUpdate: true, imageUpdateMode: IMAGE_MODE[opts.mode] } } };
  return {
    name: PROCEDURE,
    release: name,
    namespace: ns,
    params: { method: 'operator', image: opts.image, mode: opts.mode },
    initialState: {
      image: opts.image,
      version: opts.targetVersion ?? versionFromImage(opts.image),
      order: r.components.map((c) => ({ component: c.component, deployment: c.name, from: c.image ?? '' })),
      updated: [],
      configMapBackup: undefined,
    },
    async preflight(_st, done) {
      if (done.size === 0) {
        preflight(ctx, r, opts);
        if (r.operator?.status !== 'Healthy') throw preconditionError(`milvus/${name} is ${r.operator?.status ?? 'without status'}, not Healthy`);
      }
    },
    steps: [
      {
        id: 'patch-milvus',
        title: `Set the Milvus resource's image to ${opts.image}`,
        destructive: true,
        plan: () => [`kubectl patch milvus ${name} -n ${ns} --type merge -p '${JSON.stringify(body)}'`],
        async run({ ctx: c }) {
          const kube = c.kube();
          await kube.call({ verb: 'patch', resource: 'milvuses.milvus.io', namespace: ns, name }, () =>
            kube.custom.patchNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural: 'milvuses', name, body }, mergePatch),
          );
        },
      },
      {
        id: 'follow',
        title: 'Follow the operator until every component runs the new image',
        plan: () => ['milvus status Healthy and MilvusUpdated=True, and every Deployment rolled out with the new image (the condition alone can be early)'],
        async run({ state: st, log }) {
          const deadline = Date.now() + opts.timeoutMs;
          const t0 = Date.now();
          let last = '';
          for (;;) {
            const cur = await discoverRelease(ctx.kube(), name, ns);
            const res = cur.operator?.resource;
            const updatedCond = res?.status?.conditions?.find((c) => c.type === 'MilvusUpdated')?.status === 'True';
            const onImage = cur.components.filter((c) => c.image === opts.image && c.updatedReplicas >= c.replicas && c.readyReplicas >= c.replicas && (c.deployment.status?.observedGeneration ?? 0) >= (c.deployment.metadata?.generation ?? 0));
            const line = `${onImage.length}/${cur.components.length} components on ${opts.image}, status ${res?.status?.status ?? '?'}, ${elapsed(Date.now() - t0)}`;
            if (line.split(',')[0] !== last.split(',')[0]) log(line);
            last = line;
            if (updatedCond && res?.status?.status === 'Healthy' && onImage.length === cur.components.length) {
              st.updated = cur.components.map((c) => ({ component: c.component, deployment: c.name, from: st.order.find((o) => o.deployment === c.name)?.from ?? '', to: opts.image, durationMs: Date.now() - t0 }));
              return;
            }
            if (Date.now() > deadline) throw new CliError(`milvus/${name} did not finish updating in time: ${line}`, ExitCode.TIMEOUT, `check "kubectl get milvus ${name} -n ${ns}" and the operator's logs; rerun with --resume`);
            if (ctx.signal.aborted) throw ctx.signal.reason;
            await new Promise((res2) => setTimeout(res2, 1000));
          }
        },
      },
    ],
  };
}

export { backupSecretName };
