/**
 * rolling-update's checks, all before anything changes: flags (image, target version, mode) and
 * the release's state (every component healthy, a source version that supports rolling updates,
 * not a 2.1.x release that needs its metadata migrated, no embedded message queue in standalone).
 */
import { preconditionError, usageError } from '../errors.js';
import { deploymentRolloutStatus } from '../kube/rollout.js';
import { decidingVersions } from '../release/discover.js';
import type { Release } from '../release/types.js';
import { MIN_ROLLING, rollingJumpRefusal, sortVersions, versionAtLeast, versionBelow, versionFromImage, versionFromTag } from '../release/version.js';
import type { Mode } from './order.js';
import type { PlannedComponent } from './state.js';

/** The first Milvus release whose coordinators support active-standby (rollingUpdate.sh's floor). */
export const MIN_ROLLING_VERSION = MIN_ROLLING;

const IMAGE_REF = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;

export interface FlagInput {
  image: string | undefined;
  targetVersion: string | undefined;
  sourceVersion: string | undefined;
  mode: string;
}

export interface ValidFlags {
  image: string;
  /** X.Y.Z, for the app.kubernetes.io/version label and the version checks. */
  targetVersion: string;
  sourceVersion: string | undefined;
  mode: Mode;
}

function plainVersion(v: string, flag: string): string {
  const parsed = versionFromTag(v);
  if (!parsed || !/^v?\d+\.\d+\.\d+(?:[-+][\w.-]*)?$/.test(v)) throw usageError(`invalid ${flag} "${v}": use X.Y.Z, e.g. 2.4.6`);
  return parsed;
}

/** Flag rules (exit 2): an explicit image with a tag or digest, a version known from the tag or given, a known mode. */
export function validateFlags(f: FlagInput): ValidFlags {
  if (!f.image) throw usageError('--image is required, e.g. --image milvusdb/milvus:v2.4.6');
  if (!IMAGE_REF.test(f.image) || !(/:[\w][\w.-]*$/.test(f.image) || f.image.includes('@sha256:'))) {
    throw usageError(`invalid --image "${f.image}": use repository:tag, e.g. milvusdb/milvus:v2.4.6 (an image without a tag would mean "latest")`);
  }
  if (!['rolling', 'all', 'downgrade'].includes(f.mode)) throw usageError(`invalid --mode "${f.mode}": use rolling, all or downgrade`);
  const fromImage = versionFromImage(f.image);
  const targetVersion = f.targetVersion ? plainVersion(f.targetVersion, '--target-version') : fromImage;
  if (!targetVersion) {
    throw usageError(`cannot tell the Milvus version of "${f.image}" from its tag: pass --target-version X.Y.Z`);
  }
  if (f.targetVersion && fromImage && fromImage !== targetVersion) {
    throw usageError(`--target-version ${targetVersion} does not match the image tag of "${f.image}" (${fromImage})`);
  }
  return {
    image: f.image,
    targetVersion,
    sourceVersion: f.sourceVersion ? plainVersion(f.sourceVersion, '--source-version') : undefined,
    mode: f.mode as Mode,
  };
}

/** Components that are not fully rolled out and ready right now. */
export function unhealthyComponents(r: Release): string[] {
  return r.components
    .filter((c) => c.replicas > 0)
    .filter((c) => !deploymentRolloutStatus(c.deployment).done || c.readyReplicas < c.replicas)
    .map((c) => `${c.name} (${c.readyReplicas}/${c.replicas} ready, ${deploymentRolloutStatus(c.deployment).message})`);
}

/** Where an interrupted run stands: the Deployments it planned (with their image before) and those whose update is done. */
export interface RunProgress {
  order: PlannedComponent[];
  /** Deployments whose update step is recorded done. */
  updated: ReadonlySet<string>;
}

/**
 * Release checks (exit 7, nothing changed), run on every run, a resume included: the versions and
 * state of the steps still to do are read from the cluster now, never remembered. `prefix` is
 * "kubectl milvus" or "helm milvus"; `progress` is given on a resume.
 */
export function checkRelease(r: Release, f: ValidFlags, prefix: string, progress?: RunProgress): void {
  if (r.components.length === 0) throw preconditionError(`release "${r.name}" has no Milvus Deployments in namespace "${r.namespace}"`);
  const stopped = r.components.filter((c) => c.replicas === 0);
  if (stopped.length === r.components.length) throw preconditionError(`release "${r.name}" is stopped (every component has 0 replicas): nothing can roll`);
  if (progress) checkProgress(r, f, progress);
  // Components this run still changes: on a resume, those whose template is not on the image yet.
  const toChange = progress ? r.components.filter((c) => c.image !== f.image) : r.components;
  const paused = toChange.filter((c) => c.paused);
  if (paused.length) {
    throw preconditionError(
      `${paused.map((c) => `deployment/${c.name}`).join(', ')} ${paused.length > 1 ? 'are' : 'is'} paused: a changed image would not roll out`,
      `if an upgrade paused ${paused.length > 1 ? 'them' : 'it'}, finish that first (its --resume); otherwise: kubectl rollout resume ${paused.map((c) => `deployment/${c.name}`).join(' ')} -n ${r.namespace}`,
    );
  }
  const unhealthy = unhealthyComponents({ ...r, components: toChange });
  if (unhealthy.length) {
    throw preconditionError(`not every component is healthy before the update: ${unhealthy.join('; ')}`, 'fix them first (kubectl rollout status / describe), then rerun');
  }
  if (r.method === 'helm' && r.helm && r.helm.status !== 'deployed') {
    throw preconditionError(`Helm release "${r.name}" is in state "${r.helm.status}", not "deployed"`, `finish or roll back the pending Helm operation first (helm history ${r.name} -n ${r.namespace})`);
  }
  if (r.method === 'operator' && r.operator?.status !== 'Healthy') {
    throw preconditionError(`milvus/${r.name} reports status "${r.operator?.status ?? 'none'}", not Healthy`, `see "kubectl describe milvus ${r.name} -n ${r.namespace}"`);
  }
  const running = runningVersions(r, progress);
  const source = f.sourceVersion ?? (f.mode === 'downgrade' ? running[running.length - 1] : running[0]);
  if (!source) {
    if (r.components.some((c) => c.runningImages === undefined)) {
      throw preconditionError(`cannot tell the running Milvus version: the pods of release "${r.name}" could not be read`, 'grant "list" on pods and replicasets.apps in the namespace, or pass --source-version X.Y.Z');
    }
    const imgs = [...new Set(r.components.flatMap((c) => (c.runningImages?.length ? c.runningImages : [c.image])))].join(', ');
    throw preconditionError(`cannot tell the running Milvus version from the image tags (${imgs})`, 'pass --source-version X.Y.Z');
  }
  if (versionAtLeast(source, '2.1.0') && versionBelow(source, '2.2.0')) {
    throw preconditionError(
      `Milvus ${source} is 2.1.x: changing its image alone leaves the metadata in the 2.1 format ("collection not exist" after the upgrade)`,
      `migrate the metadata first: ${prefix} meta-migrate ${r.name} -n ${r.namespace} --source-version ${source} --target-version 2.2.x; then rolling-update from 2.2`,
    );
  }
  if (versionBelow(source, MIN_ROLLING_VERSION)) {
    throw preconditionError(`Milvus ${source} cannot be updated without downtime: rolling updates need ${MIN_ROLLING_VERSION} or later`, 'upgrade with a restart (helm upgrade / the operator with imageUpdateMode: all)');
  }
  if (versionBelow(f.targetVersion, MIN_ROLLING_VERSION)) {
    throw preconditionError(`the target ${f.targetVersion} is older than ${MIN_ROLLING_VERSION}: rolling updates need active-standby coordinators on both sides`);
  }
  if (f.mode !== 'downgrade' && versionBelow(f.targetVersion, source)) {
    throw preconditionError(`${f.image} (${f.targetVersion}) is older than the running ${source}: pass --mode downgrade to go back (reverse order)`);
  }
  if (f.mode === 'downgrade' && versionAtLeast(f.targetVersion, source) && f.targetVersion !== source) {
    throw preconditionError(`--mode downgrade with a newer image (${f.targetVersion} > ${source}): use --mode rolling`);
  }
  // A mixed release: no component may be taken the other way (a newer one down by an upgrade, an older one up by a downgrade).
  const wrongWay = f.sourceVersion ? [] : running.filter((v) => (f.mode === 'downgrade' ? versionBelow(v, f.targetVersion) : versionBelow(f.targetVersion, v)));
  if (wrongWay.length) {
    throw preconditionError(
      `components run ${running.join(', ')}: ${f.mode === 'downgrade' ? 'an older' : 'a newer'} version than the target ${f.targetVersion} runs, and this ${f.mode === 'downgrade' ? 'downgrade' : 'update'} would take it the other way`,
      'finish or undo the update in progress first (kubectl milvus status shows what runs where)',
    );
  }
  refuseImpossibleJump(r, source, f, prefix);
  if (r.mode === 'standalone' && (r.mq === 'rocksmq' || r.mq === 'natsmq')) {
    throw preconditionError(
      `standalone Milvus with ${r.mq} cannot roll: its message queue lives in the single pod's volume`,
      r.method === 'helm' ? `upgrade with a restart: helm upgrade ${r.name} ... --reset-then-reuse-values --set image.all.tag=...` : 'set spec.components.image with imageUpdateMode: all (a restart)',
    );
  }
}

/** The versions the serving components run now (their pods; a component without pods: its template), lowest first. */
function runningVersions(r: Release, progress: RunProgress | undefined): string[] {
  // On a resume, the components already updated run the target: the source is what the others run.
  // Pods not read (RBAC): the running version is unknown, never the template's.
  if (r.components.some((c) => c.runningImages === undefined)) return [];
  const rest = progress ? r.components.filter((c) => !progress.updated.has(c.name)) : r.components;
  return sortVersions((rest.length ? rest : r.components).flatMap((c) => decidingVersions(c) ?? []));
}

/**
 * A resume continues only the run it recorded: every Deployment it updated still runs the image
 * (template and pods), every one still to do runs its image from before or the new one.
 */
function checkProgress(r: Release, f: ValidFlags, p: RunProgress): void {
  const changed: string[] = [];
  for (const planned of p.order) {
    const c = r.components.find((x) => x.name === planned.deployment);
    if (!c) continue;
    const images = [c.image ?? '', ...(c.runningImages ?? [])];
    const allowed = p.updated.has(c.name) ? [f.image] : [f.image, planned.from];
    const odd = [...new Set(images.filter((i) => !allowed.includes(i)))];
    if (odd.length) changed.push(`deployment/${c.name} ${p.updated.has(c.name) ? 'was updated to' : 'was planned from'} ${p.updated.has(c.name) ? f.image : planned.from}, and runs ${odd.join(', ')} now`);
  }
  if (changed.length) {
    throw preconditionError(`the release changed since the interrupted run: ${changed.join('; ')}`, 'review it (kubectl milvus status), then start over with --restart');
  }
}

/**
 * Jumps a rolling update cannot make, by the one rule the upgrade planner uses too
 * (rollingJumpRefusal in src/release/version.ts, from the upstream upgrade guides). Names what can.
 */
export function refuseImpossibleJump(r: Release, source: string, f: ValidFlags, prefix = 'kubectl milvus'): void {
  const refusal = rollingJumpRefusal({ from: source, to: f.targetVersion, components: r.components.map((c) => c.component) });
  if (!refusal) return;
  const viaUpgrade = refusal.code.startsWith('into-2.6') ? `; run: ${prefix} upgrade ${r.name} -n ${r.namespace} --to ${f.targetVersion}` : '';
  throw preconditionError(refusal.reason, `${refusal.remedy}${viaUpgrade}`);
}
