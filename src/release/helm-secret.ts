/**
 * Reads a Helm 3 release record straight from the cluster: the Secret
 * `sh.helm.release.v1.<release>.v<revision>` (labels owner=helm, name=<release>) whose `release`
 * key holds base64(gzip(JSON)). The ConfigMap storage driver (HELM_DRIVER=configmap) keeps the
 * same record in a ConfigMap with the same labels.
 */
import { gunzipSync } from 'node:zlib';
import type { Kube } from '../kube/client.js';
import { CliError, ExitCode } from '../errors.js';
import { gunzipChunk, isGzip } from '../util/gzip.js';

export interface HelmReleaseRecord {
  name: string;
  namespace: string;
  version: number;
  info?: { status?: string; first_deployed?: string; last_deployed?: string; description?: string };
  chart?: { metadata?: { name?: string; version?: string; appVersion?: string }; values?: Record<string, unknown> };
  config?: Record<string, unknown>;
  manifest?: string;
}

export function decodeHelmRelease(payload: string): HelmReleaseRecord {
  let raw = Buffer.from(payload, 'base64');
  // gzip magic 1f 8b; Helm always compresses, but older records may be plain JSON.
  // One output chunk for the whole record (its size is in gzip's trailer), not 16 KiB pieces.
  if (isGzip(raw)) raw = gunzipSync(raw, { chunkSize: gunzipChunk(raw) });
  return JSON.parse(raw.toString('utf8')) as HelmReleaseRecord;
}

export interface StoredHelmRecord {
  record: HelmReleaseRecord;
  objectName: string;
  storage: 'secret' | 'configmap';
}

export interface StoredHelmRelease extends StoredHelmRecord {
  /** The highest revision with status deployed (the record itself when that is the latest); undefined when none is. */
  lastDeployed: StoredHelmRecord | undefined;
}

/**
 * The release as helm sees it: `record` is its LATEST revision, whatever its status (failed,
 * pending-*, deployed), as `helm status` and `helm get` answer; `lastDeployed` is the highest
 * deployed one. Undefined when Helm has no record of the release in the namespace.
 */
export async function readHelmRelease(kube: Kube, namespace: string, release: string): Promise<StoredHelmRelease | undefined> {
  const labelSelector = `owner=helm,name=${release}`;
  const secrets = await kube.listAll(
    { verb: 'list', resource: 'secrets', namespace },
    (o) => kube.core.listNamespacedSecret({ namespace, ...o }),
    { labelSelector },
  );
  const stored: StoredHelmRecord[] = [];
  for (const s of secrets) {
    const payload = s.data?.release;
    if (payload) {
      // Secret data arrives base64-encoded; the value itself is Helm's base64 text.
      stored.push({
        record: decodeHelmRelease(Buffer.from(payload, 'base64').toString('utf8')),
        objectName: s.metadata?.name ?? '',
        storage: 'secret',
      });
    }
  }
  if (stored.length === 0) {
    let maps: Awaited<ReturnType<Kube['core']['listNamespacedConfigMap']>>['items'] = [];
    try {
      maps = await kube.listAll(
        { verb: 'list', resource: 'configmaps', namespace },
        (o) => kube.core.listNamespacedConfigMap({ namespace, ...o }),
        { labelSelector },
      );
    } catch (e) {
      // Helm's ConfigMap driver is rare: a user who may not list ConfigMaps reads on without it.
      // Any other failure is no evidence that Helm has no record: it is thrown.
      if (!(e instanceof CliError && e.exitCode === ExitCode.FORBIDDEN)) throw e;
    }
    for (const m of maps) {
      const payload = m.data?.release;
      if (payload) stored.push({ record: decodeHelmRelease(payload), objectName: m.metadata?.name ?? '', storage: 'configmap' });
    }
  }
  const mine = stored.filter((s) => s.record.name === release);
  if (mine.length === 0) return undefined;
  mine.sort((a, b) => b.record.version - a.record.version);
  return { ...mine[0]!, lastDeployed: mine.find((s) => s.record.info?.status === 'deployed') };
}
