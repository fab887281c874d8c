/**
 * rolling-update of a Milvus Operator release: one merge patch of spec.components (image,
 * enableRollingUpdate: true, imageUpdateMode from --mode) — never a partial manifest, which would
 * replace the spec (operator#167) — then the operator's work is followed until the resource reports
 * Healthy and MilvusUpdated AND every Deployment has observed its spec, rolled out by kubectl's
 * rules and runs the new image (MilvusUpdated alone can be early: operator#187).
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, preconditionError } from '../errors.js';
import { MILVUS_GROUP, MILVUS_VERSION } from '../kube/client.js';
import { deploymentImage, deploymentRolloutStatus, follow } from '../kube/rollout.js';
import { elapsed } from '../output/duration.js';
import type { ProcedureDefinition } from '../procedure/engine.js';
import { MILVUS_COMPONENTS, componentLabelKey } from '../release/labels.js';
import type { MilvusResource, Release } from '../release/types.js';
import { componentContainer, IMAGE_UPDATE_MODE, milvusPatch, updateOrder } from './order.js';
import { checkRelease, type ValidFlags } from './preflight.js';
import { ProgressReporter } from './progress.js';
import { PROCEDURE, recordResult, type RollingUpdateState } from './state.js';
import { mergePatchMilvus } from '../kube/milvus-resource.js';

export interface OperatorRollingUpdateOptions {
  flags: ValidFlags;
  /** Timeout per component; the whole follow gets this times the number of components. */
  timeoutMs: number;
}

const COMPONENT = componentLabelKey('operator');

/** A Deployment that runs nothing (e.g. the idle one of a querynode pair in rollingMode 2) is not waited on. */
export function deploymentUpdated(d: V1Deployment, image: string): boolean {
  if ((d.spec?.replicas ?? 1) === 0) return deploymentRolloutStatus(d).done || (d.status?.replicas ?? 0) === 0;
  const comp = d.metadata?.labels?.[COMPONENT];
  return deploymentImage(d, comp) === image && deploymentRolloutStatus(d).done;
}

/** The resource's own verdict: Healthy, MilvusUpdated=True, for the current generation. */
export function milvusReportsUpdated(m: MilvusResource | undefined): boolean {
  if (!m) return false;
  const st = m.status;
  const updated = st?.conditions?.find((c) => c.type === 'MilvusUpdated')?.status === 'True';
  return st?.status === 'Healthy' && updated && (st.observedGeneration ?? 0) >= (m.metadata.generation ?? 0);
}

export function operatorRollingUpdate(ctx: RunContext, r: Release, o: OperatorRollingUpdateOptions): ProcedureDefinition<RollingUpdateState> {
  const ns = r.namespace;
  const name = r.name;
  const { image, targetVersion: version, mode } = o.flags;
  const pinsVersion = Boolean(r.operator?.resource.spec?.components?.version);
  const body = milvusPatch(image, mode, { version, pinsVersion });
  const ordered = updateOrder(r.components, { downgrade: mode === 'downgrade', fromVersion: r.milvusVersion, toVersion: version });
  const isMilvus = (d: V1Deployment) => (MILVUS_COMPONENTS as readonly string[]).includes(d.metadata?.labels?.[COMPONENT] ?? '');
  const totalTimeout = o.timeoutMs * Math.max(1, r.components.length);

  return {
    name: PROCEDURE,
    release: name,
    namespace: ns,
    params: { method: 'operator', image, mode },
    initialState: {
      image,
      version,
      mode,
      method: 'operator',
      order: ordered.map((c) => ({ component: c.component, deployment: c.name, container: componentContainer(c), from: c.image ?? '' })),
      results: [],
      previousImage: r.operator?.resource.spec?.components?.image,
    },
    async preflight(st, done) {
      // Every run checks the release now. Before the patch: the full checks. After it, the
      // operator is mid-update (not Healthy): the resource must still ask for this run's image.
      if (!done.has('patch-milvus')) return checkRelease(r, o.flags, ctx.commandPrefix);
      const asked = r.operator?.resource.spec?.components?.image;
      if (r.method !== 'operator' || asked !== st.image) {
        throw preconditionError(`milvus/${name} asks for ${asked ?? 'no image'} now, not ${st.image} as this run patched it: the release changed since the interrupted run`, 'review it (kubectl milvus status), then start over with --restart');
      }
    },
    steps: [
      {
        id: 'patch-milvus',
        title: `Set the Milvus resource's image to ${image} (imageUpdateMode ${IMAGE_UPDATE_MODE[mode]})`,
        destructive: true,
        plan: () => [
          `kubectl patch milvus ${name} -n ${ns} --type merge -p '${JSON.stringify(body)}'`,
          'a merge patch of these fields only: the rest of the spec stays as it is',
          ...(mode === 'all' ? ['imageUpdateMode all: the operator replaces every component at once'] : [`the operator updates in its order: ${ordered.map((c) => c.component).join(' -> ')}`]),
        ],
        async run({ state: st, checkpoint }) {
          await mergePatchMilvus(ctx.kube(), ns, name, body);
          st.patchedAt = ctx.now().toISOString();
          await checkpoint();
        },
      },
      {
        id: 'follow',
        title: 'Follow the operator until every component runs the new image',
        plan: () => [
          `every Deployment of ${r.workloadSelector}: observed generation, all replicas updated and available, image ${image}`,
          `then milvus/${name}: status Healthy and MilvusUpdated=True for its current generation (timeout ${elapsed(totalTimeout)})`,
        ],
        async run({ state: st, log }) {
          try {
            await followOperator(st, log);
          } catch (e) {
            if (!(e instanceof CliError) || ctx.signal.aborted) throw e;
            throw new CliError(e.message, e.exitCode, operatorFailureHint(ctx, r, st), { cause: e });
          }
        },
      },
    ],
  };

  async function followOperator(st: RollingUpdateState, log: (m: string) => void): Promise<void> {
          const kube = ctx.kube();
          const reporter = new ProgressReporter(log, () => ctx.now().getTime());
          const patchedAt = st.patchedAt ? Date.parse(st.patchedAt) : ctx.now().getTime();
          const startedAt = new Map<string, number>();
          // A querynode group the operator switches to (-querynode-1 after -querynode-0) is not in
          // the plan by name: its FROM is the serving group's image of the same component.
          const fromOf = (d: string, comp: string) => (st.order.find((p) => p.deployment === d) ?? st.order.find((p) => p.component === comp))?.from ?? '';
          const observe = (d: V1Deployment) => {
            const dn = d.metadata?.name ?? '';
            const comp = d.metadata?.labels?.[COMPONENT] ?? '';
            if (!startedAt.has(dn) && deploymentImage(d, comp) === image) startedAt.set(dn, ctx.now().getTime());
            const t0 = startedAt.get(dn) ?? patchedAt;
            if (deploymentImage(d, comp) === image) reporter.update(comp, dn, fromOf(dn, comp), image, d, t0);
            const done = deploymentUpdated(d, image);
            const known = st.results.find((x) => x.deployment === dn);
            if (done && known?.status !== 'updated' && (d.spec?.replicas ?? 1) > 0) {
              recordResult(st, { component: comp, deployment: dn, from: fromOf(dn, comp), to: image, durationMs: ctx.now().getTime() - t0, status: 'updated', replicas: d.spec?.replicas ?? 1 });
              log(`${comp} (deployment/${dn}) rolled out in ${elapsed(ctx.now().getTime() - t0)}`);
            }
            return done;
          };
          const listDeployments = () =>
            kube.call({ verb: 'list', resource: 'deployments.apps', namespace: ns }, () => kube.apps.listNamespacedDeployment({ namespace: ns, labelSelector: r.workloadSelector }));
          const pending = (items: ReadonlyMap<string, V1Deployment>) => [...items.values()].filter(isMilvus).filter((d) => !deploymentUpdated(d, image));
          const deadline = ctx.now().getTime() + totalTimeout;
          await follow<V1Deployment, true>({
            kube,
            what: `the Deployments of milvus/${name} to run ${image}`,
            path: `/apis/apps/v1/namespaces/${ns}/deployments`,
            labelSelector: r.workloadSelector,
            list: listDeployments,
            check: (items) => {
              const all = [...items.values()].filter(isMilvus);
              const states = all.map(observe);
              return all.length > 0 && states.every(Boolean) ? true : undefined;
            },
            describe: (items) => pending(items).map((d) => `${d.metadata?.name}: ${deploymentImage(d, d.metadata?.labels?.[COMPONENT])}, ${deploymentRolloutStatus(d).message}`).join('; '),
            timeoutMs: Math.max(1000, deadline - ctx.now().getTime()),
            signal: ctx.signal,
          });
          let lastStatus = '';
          await follow<MilvusResource, true>({
            kube,
            what: `milvus/${name} to report Healthy and MilvusUpdated`,
            path: `/apis/${MILVUS_GROUP}/${MILVUS_VERSION}/namespaces/${ns}/milvuses`,
            fieldSelector: `metadata.name=${name}`,
            list: () =>
              kube.call({ verb: 'list', resource: 'milvuses.milvus.io', namespace: ns }, () =>
                kube.custom.listNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace: ns, plural: 'milvuses', fieldSelector: `metadata.name=${name}` }),
              ) as Promise<{ items: MilvusResource[]; metadata?: { resourceVersion?: string } }>,
            check: (items) => {
              const m = items.get(name);
              if (!m) throw new CliError(`milvus/${name} was deleted during the update`, ExitCode.FAILED);
              const s = `status ${m.status?.status ?? '?'}, MilvusUpdated ${m.status?.conditions?.find((c) => c.type === 'MilvusUpdated')?.status ?? '?'}`;
              if (s !== lastStatus) log(`milvus/${name}: ${s}`);
              lastStatus = s;
              return milvusReportsUpdated(m) ? true : undefined;
            },
            describe: () => lastStatus,
            timeoutMs: Math.max(1000, deadline - ctx.now().getTime()),
            signal: ctx.signal,
          });
          // The condition can turn True early: the Deployments decide.
          const final = (await listDeployments()).items.filter(isMilvus);
          const behind = final.filter((d) => !deploymentUpdated(d, image));
          if (behind.length) {
            throw new CliError(
              `milvus/${name} reports updated, but ${behind.map((d) => `deployment/${d.metadata?.name} (${deploymentImage(d, d.metadata?.labels?.[COMPONENT])}, ${deploymentRolloutStatus(d).message})`).join(', ')} is not`,
              ExitCode.FAILED,
              `rerun with --resume to keep following, or check the operator's logs`,
            );
          }
          for (const d of final) observe(d);
  }
}

export function operatorFailureHint(ctx: RunContext, r: Release, st: RollingUpdateState): string {
  const back = st.previousImage
    ? `\nto go back: kubectl patch milvus ${r.name} -n ${r.namespace} --type merge -p '${JSON.stringify({ spec: { components: { image: st.previousImage, imageUpdateMode: 'rollingDowngrade' } } })}'`
    : '';
  return `check "kubectl describe milvus ${r.name} -n ${r.namespace}" and the operator's logs; after fixing, continue with: ${ctx.commandPrefix} rolling-update ${r.name} -n ${r.namespace} --image ${st.image} --mode ${st.mode} --resume${back}`;
}
