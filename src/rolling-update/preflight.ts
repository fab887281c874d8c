/**
 * rolling-update's checks, all before anything changes: flags (image, target version, mode) and
 * the release's state (every component healthy, a source version that supports rolling updates,
 * not a 2.1.x release that needs its metadata migrated, no embedded message queue in standalone).
 */
import { preconditionError, usageError } from '../errors.js';
import { deploymentRolloutStatus } from '../kube/rollout.js';
import type { Release } from '../release/types.js';
import { versionAtLeast, versionBelow, versionFromImage, versionFromTag } from '../release/version.js';
import type { Mode } from './order.js';

/** The first Milvus release whose coordinators support active-standby (rollingUpdate.sh's floor). */
export const MIN_ROLLING_VERSION = '2.2.3';

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

/** Release checks (exit 7, nothing changed). `prefix` is "kubectl milvus" or "helm milvus". */
export function checkRelease(r: Release, f: ValidFlags, prefix: string): void {
  if (r.components.length === 0) throw preconditionError(`release "${r.name}" has no Milvus Deployments in namespace "${r.namespace}"`);
  const stopped = r.components.filter((c) => c.replicas === 0);
  if (stopped.length === r.components.length) throw preconditionError(`release "${r.name}" is stopped (every component has 0 replicas): nothing can roll`);
  const unhealthy = unhealthyComponents(r);
  if (unhealthy.length) {
    throw preconditionError(`not every component is healthy before the update: ${unhealthy.join('; ')}`, 'fix them first (kubectl rollout status / describe), then rerun');
  }
  if (r.method === 'helm' && r.helm && r.helm.status !== 'deployed') {
    throw preconditionError(`Helm release "${r.name}" is in state "${r.helm.status}", not "deployed"`, `finish or roll back the pending Helm operation first (helm history ${r.name} -n ${r.namespace})`);
  }
  if (r.method === 'operator' && r.operator?.status !== 'Healthy') {
    throw preconditionError(`milvus/${r.name} reports status "${r.operator?.status ?? 'none'}", not Healthy`, `see "kubectl describe milvus ${r.name} -n ${r.namespace}"`);
  }
  const source = f.sourceVersion ?? r.milvusVersion;
  if (!source) {
    const imgs = [...new Set(r.components.map((c) => c.image))].join(', ');
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
  refuseImpossibleJump(r, source, f);
  if (r.mode === 'standalone' && (r.mq === 'rocksmq' || r.mq === 'natsmq')) {
    throw preconditionError(
      `standalone Milvus with ${r.mq} cannot roll: its message queue lives in the single pod's volume`,
      r.method === 'helm' ? `upgrade with a restart: helm upgrade ${r.name} ... --reset-then-reuse-values --set image.all.tag=...` : 'set spec.components.image with imageUpdateMode: all (a restart)',
    );
  }
}

const minorOf = (v: string) => {
  const [maj, min] = v.split('.').map(Number);
  return { maj: maj!, min: min! };
};

/**
 * Jumps an image change cannot make: more than one minor version at a time (each minor's
 * coordinators and metadata expect the previous one), and into 2.6 without a streaming node (2.6
 * needs one, and patching images creates none: the cluster goes down mid-run). Names what can.
 */
export function refuseImpossibleJump(r: Release, source: string, f: ValidFlags): void {
  const s = minorOf(source);
  const t = minorOf(f.targetVersion);
  const [low, high] = f.mode === 'downgrade' ? [t, s] : [s, t];
  if (high.maj !== low.maj || high.min - low.min > 1) {
    const next = f.mode === 'downgrade' ? `${s.maj}.${s.min - 1}` : `${s.maj}.${s.min + 1}`;
    throw preconditionError(
      `${source} -> ${f.targetVersion} crosses more than one minor version: a rolling update goes one minor at a time`,
      `${f.mode === 'downgrade' ? 'go back' : 'update'} to the latest ${next}.x first, then to ${f.targetVersion}`,
    );
  }
  const intoStreaming = versionBelow(source, '2.6.0') && versionAtLeast(f.targetVersion, '2.6.0');
  if (intoStreaming && !r.components.some((c) => c.component === 'streamingnode')) {
    throw preconditionError(
      `Milvus ${f.targetVersion} needs a streaming node, which "${r.name}" does not have and an image change cannot create: the cluster would go down mid-run`,
      r.method === 'helm'
        ? `upgrade with the chart instead: helm upgrade ${r.name} <chart for ${f.targetVersion}> -n ${r.namespace} --reset-then-reuse-values --set streaming.enabled=true --set image.all.tag=v${f.targetVersion}`
        : `let the Milvus Operator (>= 1.3) make the 2.5 -> 2.6 upgrade: set spec.components.image to the ${f.targetVersion} image with imageUpdateMode: all`,
    );
  }
}
