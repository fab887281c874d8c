/**
 * Helm release records of many releases, read page by page from one list (Secrets, or ConfigMaps
 * for Helm's ConfigMap driver) without holding every revision: Helm labels each record object
 * with its release `name`, revision `version` and `status`, so a record is only decoded when it
 * is the latest revision or the highest deployed one of its release so far, and then kept as the
 * little a release is assembled from (never the chart's templates or the manifest). Decoding as
 * the pages arrive overlaps with the other lists still in flight. The choice is readHelmRelease's:
 * the latest revision whatever its status, the highest deployed one; records in Secrets hide
 * those in ConfigMaps.
 */
import { decodeHelmRelease, type HelmReleaseRecord, type StoredHelmRecord, type StoredHelmRelease } from './helm-secret.js';

interface Candidate {
  version: number;
  status: string | undefined;
  objectName: string;
  record: HelmReleaseRecord;
}

interface Kept {
  latest?: Candidate;
  deployed?: Candidate;
}

export interface HelmObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

type Storage = 'secret' | 'configmap';

/**
 * What a release is assembled from of its record (name, revision, info, the chart's metadata
 * and default values, the user's values): the chart's templates and files and the rendered
 * manifest, most of a record, are dropped as soon as it is decoded.
 */
function slimRecord(r: HelmReleaseRecord): HelmReleaseRecord {
  return {
    name: r.name,
    namespace: r.namespace,
    version: r.version,
    ...(r.info ? { info: r.info } : {}),
    ...(r.chart ? { chart: { ...(r.chart.metadata ? { metadata: r.chart.metadata } : {}), ...(r.chart.values ? { values: r.chart.values } : {}) } } : {}),
    ...(r.config ? { config: r.config } : {}),
  };
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class HelmRecordIndex {
  private readonly kept: Record<Storage, Map<string, Kept>> = { secret: new Map(), configmap: new Map() };

  /** Forgets what was kept of a storage's list: the list restarts (an expired continue token). */
  restart(storage: Storage): void {
    this.kept[storage].clear();
  }

  /** One object of a Helm storage list (labels owner=helm). */
  add(o: HelmObject, storage: Storage): void {
    const raw = o.data?.release;
    const namespace = o.metadata?.namespace;
    if (!raw || !namespace) return;
    const payload = () => (storage === 'secret' ? Buffer.from(raw, 'base64').toString('utf8') : raw);
    const labels = o.metadata?.labels ?? {};
    let name = labels.name;
    let version = Number(labels.version);
    let status = labels.status;
    let record: HelmReleaseRecord | undefined;
    if (!name || !Number.isInteger(version)) {
      // Not labelled as Helm labels its records: read the record itself.
      record = slimRecord(decodeHelmRelease(payload()));
      name = record.name;
      version = record.version;
      status = record.info?.status;
    }
    const k = key(namespace, name);
    const kept = this.kept[storage].get(k) ?? {};
    const latest = !kept.latest || version > kept.latest.version;
    const deployed = status === 'deployed' && (!kept.deployed || version > kept.deployed.version);
    if (!latest && !deployed) return;
    const c: Candidate = { version, status, objectName: o.metadata?.name ?? '', record: record ?? slimRecord(decodeHelmRelease(payload())) };
    if (latest) kept.latest = c;
    if (deployed) kept.deployed = c;
    this.kept[storage].set(k, kept);
  }

  /** Every release with a record: namespace and name. */
  releases(): Array<{ namespace: string; name: string }> {
    const all = new Set([...this.kept.secret.keys(), ...this.kept.configmap.keys()]);
    return [...all].map((k) => ({ namespace: k.slice(0, k.indexOf('/')), name: k.slice(k.indexOf('/') + 1) }));
  }

  /** The release as readHelmRelease gives it; undefined without a record of that name. */
  get(namespace: string, name: string): StoredHelmRelease | undefined {
    const k = key(namespace, name);
    const storage: Storage = this.kept.secret.has(k) ? 'secret' : 'configmap';
    const kept = this.kept[storage].get(k);
    if (!kept?.latest) return undefined;
    const open = (c: Candidate): StoredHelmRecord | undefined => (c.record.name === name ? { record: c.record, objectName: c.objectName, storage } : undefined);
    const latest = open(kept.latest);
    if (!latest) return undefined;
    const deployed = kept.deployed === undefined ? undefined : kept.deployed === kept.latest ? latest : open(kept.deployed);
    return { ...latest, lastDeployed: deployed };
  }
}
