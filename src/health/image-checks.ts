/**
 * Images a release cannot get: a pod of the release (Milvus or a dependency) waiting in
 * ErrImagePull / ImagePullBackOff is critical, named with its image; an image from a repository
 * known to be gone is a risk while its pod still runs (the next reschedule cannot pull it), with
 * the change that fixes it. Known gone: Docker Hub's MinIO images (MinIO archived its community
 * edition in 2026 and removed minio/minio, minio/mc and minio/console from Docker Hub;
 * milvus-helm#315, fixed by chart 5.0.28 which pulls quay.io/minio/*, milvus-helm#316).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { RunContext } from '../cli/context.js';
import { anyPulsarSelector, etcdSelector, minioSelector } from '../release/labels.js';
import type { InstallMethod, Release } from '../release/types.js';
import type { Check } from './checks.js';

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/** The repository of an image reference, Docker Hub's spelled short ("docker.io/minio/minio:x" -> "minio/minio"). */
export function imageRepository(image: string): { registry: string; repository: string } {
  let ref = image.trim();
  const at = ref.indexOf('@');
  if (at >= 0) ref = ref.slice(0, at);
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) ref = ref.slice(0, colon);
  const parts = ref.split('/');
  const first = parts[0]!;
  const hasRegistry = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : 'docker.io';
  let repository = hasRegistry ? parts.slice(1).join('/') : ref;
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(registry) && repository.startsWith('library/')) repository = repository.slice('library/'.length);
  return { registry: ['index.docker.io', 'registry-1.docker.io'].includes(registry) ? 'docker.io' : registry, repository };
}

interface GoneRepository {
  why: string;
  fix: Record<InstallMethod, string>;
}

const GONE: Record<string, GoneRepository> = {
  'minio/minio': {
    why: "MinIO removed its images from Docker Hub (milvus-helm#315)",
    fix: {
      helm: 'helm upgrade to chart >= 5.0.28 (quay.io/minio/minio), or keep the chart and set minio.image.repository=quay.io/minio/minio (same tags)',
      operator: 'set spec.dependencies.storage.inCluster.values.image.repository: quay.io/minio/minio in the Milvus resource (same tags)',
    },
  },
  'minio/mc': {
    why: "MinIO removed its images from Docker Hub (milvus-helm#315)",
    fix: {
      helm: 'helm upgrade to chart >= 5.0.28 (quay.io/minio/mc), or set minio.mcImage.repository=quay.io/minio/mc',
      operator: 'set spec.dependencies.storage.inCluster.values.mcImage.repository: quay.io/minio/mc in the Milvus resource',
    },
  },
  'minio/console': {
    why: "MinIO removed its images from Docker Hub (milvus-helm#315)",
    fix: { helm: 'use quay.io/minio/console', operator: 'use quay.io/minio/console' },
  },
};

/** Why an image can no longer be pulled, with the fix; undefined for an image not known to be gone. */
export function goneImage(image: string, method: InstallMethod): string | undefined {
  const { registry, repository } = imageRepository(image);
  if (registry !== 'docker.io') return undefined;
  const gone = GONE[repository];
  if (!gone) return undefined;
  return `${image}: Docker Hub's ${repository} is gone (${gone.why}): a pod rescheduled to a node without it cached stays in ImagePullBackOff; fix: ${gone.fix[method]}`;
}

/** Risks for status: a dependency workload whose image is known to be gone. */
export function goneImageRisks(method: InstallMethod, workloads: Array<{ kind: string; name: string; images?: string[] | undefined }>): string[] {
  const out: string[] = [];
  for (const w of workloads) {
    for (const image of new Set(w.images ?? [])) {
      const why = goneImage(image, method);
      if (why) out.push(`${w.kind.toLowerCase()}/${w.name} runs ${why}`);
    }
  }
  return out;
}

export interface PullFailure {
  pod: string;
  container: string;
  image: string;
  reason: string;
  message: string | undefined;
}

export function pullFailures(pods: V1Pod[]): PullFailure[] {
  const out: PullFailure[] = [];
  for (const p of pods) {
    for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const reason = cs.state?.waiting?.reason;
      if (reason && PULL_FAILURES.has(reason)) out.push({ pod: p.metadata?.name ?? '', container: cs.name, image: cs.image, reason, message: cs.state?.waiting?.message });
    }
  }
  return out;
}

/** Critical when any pod of the release cannot pull its image, naming pod, image and (for a gone one) the fix. */
export function imagesCheck(pods: V1Pod[], method: InstallMethod): Check {
  const failures = pullFailures(pods);
  if (failures.length === 0) return { check: 'images', status: 'ok', detail: `${pods.length} pod(s) of the release and its dependencies: every image pulled` };
  const detail = failures
    .map((f) => {
      const gone = goneImage(f.image, method);
      return `pod/${f.pod} cannot pull ${f.image} (${f.reason}${f.message ? `: ${f.message.slice(0, 160)}` : ''})${gone ? `; ${gone.slice(gone.indexOf(': ') + 2)}` : ''}`;
    })
    .join('; ');
  return { check: 'images', status: 'critical', detail };
}

/** Every pod of the release: Milvus, etcd, MinIO and Pulsar (deduplicated by name). */
export async function releasePods(ctx: RunContext, r: Release): Promise<V1Pod[]> {
  const kube = ctx.kube();
  const selectors = [r.workloadSelector, etcdSelector(r.method, r.name), minioSelector(r.method, r.name), anyPulsarSelector(r.method, r.name)];
  const lists = await Promise.all(
    selectors.map((labelSelector) => kube.listAll({ verb: 'list', resource: 'pods', namespace: r.namespace }, (o) => kube.core.listNamespacedPod({ namespace: r.namespace, ...o }), { labelSelector })),
  );
  const byName = new Map<string, V1Pod>();
  for (const p of lists.flat()) byName.set(p.metadata?.name ?? '', p);
  return [...byName.values()];
}

/** health's image check: one line to register. */
export async function imageHealthChecks(ctx: RunContext, r: Release): Promise<Check[]> {
  return [imagesCheck(await releasePods(ctx, r), r.method)];
}
