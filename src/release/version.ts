/** Milvus versions as they appear in image tags and chart metadata. */
import semver from 'semver';

/** 2.4.5 for "milvusdb/milvus:v2.4.5", "v2.4.5-gpu" or "2.4.5-20240101-abcdef"; undefined otherwise. */
export function versionFromImage(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  if (colon < 0 || ref.slice(colon).includes('/')) return undefined;
  return versionFromTag(ref.slice(colon + 1));
}

export function versionFromTag(tag: string | undefined): string | undefined {
  const m = tag ? /^v?(\d+)\.(\d+)\.(\d+)/.exec(tag) : null;
  return m ? `${m[1]}.${m[2]}.${m[3]}` : undefined;
}

/** The distinct valid versions, lowest first. */
export function sortVersions(versions: Array<string | undefined>): string[] {
  return [...new Set(versions.filter((v): v is string => Boolean(v && semver.valid(v))))].sort(semver.compare);
}

export function lowestVersion(versions: Array<string | undefined>): string | undefined {
  return sortVersions(versions)[0];
}

export const versionAtLeast = (v: string | undefined, min: string) => Boolean(v && semver.valid(v) && semver.gte(v, min));
export const versionBelow = (v: string | undefined, max: string) => Boolean(v && semver.valid(v) && semver.lt(v, max));

/**
 * The first release whose coordinators run active-standby, so that components can be replaced one
 * at a time. Docs (upgrade_milvus_cluster-helm/-operator.md, v2.2.x to v2.5.x): "To upgrade Milvus
 * from v2.2.3 or later releases to <2.x.y>, you can conduct a rolling upgrade"; from before
 * v2.2.3, "upgrade Milvus by changing its image version" (a restart).
 */
export const MIN_ROLLING = '2.2.3';
/** The 2.6 prerequisite (docs v2.6.x upgrade_milvus_cluster-helm.md): 2.5.16 or later, running mixcoord. */
export const PRE_26 = '2.5.16';

export interface RollingJump {
  from: string;
  to: string;
  /** The release's components after the jump's own changes; undefined when not known (a jump into 2.6 is then refused). */
  components?: readonly string[] | undefined;
}

export type RollingRefusalCode = 'below-rolling' | 'across-major' | 'out-of-2.6' | 'downgrade-minors' | 'into-2.6-source' | 'into-2.6-mixcoord' | 'into-2.6-streaming';

export interface RollingRefusal {
  code: RollingRefusalCode;
  reason: string;
  remedy: string;
}

/**
 * The one rule for a rolling jump (components replaced one at a time, the others serving), used by
 * the upgrade planner and by rolling-update, from the upstream documentation
 * (../shared/research/milvus-upstream.md §1, milvus-2026.md "2.5 -> 2.6"):
 * - both sides 2.2.3 or later (active-standby coordinators; below, an image change with a restart);
 * - forward, any number of minors within 2.2.3 ... 2.5.x: the v2.3.x, v2.4.x and v2.5.x upgrade
 *   guides each say "from v2.2.3 or later releases to 2.x.y, you can conduct a rolling upgrade";
 * - into 2.6 only from 2.5.16 or later, with mixcoord and a streaming node (v2.6.x guide and
 *   blog 2025-12-25: "run >= 2.5.16 with mixcoord first"; an image change creates no streaming node);
 * - never out of 2.6 to an older line (no documented way back) nor across a major version;
 * - backwards (a downgrade) at most one minor: no guide documents more.
 * Undefined when the jump is allowed.
 */
export function rollingJumpRefusal(j: RollingJump): RollingRefusal | undefined {
  const [from, to] = [semver.valid(j.from), semver.valid(j.to)];
  if (!from || !to) return { code: 'below-rolling', reason: `cannot tell the versions of ${j.from} -> ${j.to}`, remedy: 'give the versions as X.Y.Z' };
  if (semver.lt(from, MIN_ROLLING) || semver.lt(to, MIN_ROLLING)) {
    return {
      code: 'below-rolling',
      reason: `${from} -> ${to}: rolling updates need active-standby coordinators (${MIN_ROLLING} or later) on both sides`,
      remedy: 'change the image with a restart (downtime)',
    };
  }
  if (semver.major(from) !== semver.major(to)) {
    return { code: 'across-major', reason: `${from} -> ${to} crosses a major version: no rolling update is documented across it`, remedy: 'follow the upgrade guide of the new major version' };
  }
  const line = (v: string) => semver.minor(v);
  if (semver.lt(to, from)) {
    if (semver.gte(from, '2.6.0') && semver.lt(to, '2.6.0')) {
      return { code: 'out-of-2.6', reason: `${from} -> ${to} goes back across the 2.6 change (streaming WAL, mixcoord): there is no documented way back`, remedy: 'restore a data backup (milvus-backup) into a new release of the old version' };
    }
    if (line(from) - line(to) > 1) {
      return { code: 'downgrade-minors', reason: `${from} -> ${to} goes back more than one minor version: no guide documents it`, remedy: `go back to the latest ${semver.major(from)}.${line(from) - 1}.x first` };
    }
    return undefined;
  }
  if (semver.lt(from, '2.6.0') && semver.gte(to, '2.6.0')) {
    if (semver.lt(from, PRE_26)) {
      return { code: 'into-2.6-source', reason: `${from} -> ${to}: 2.6 needs ${PRE_26} or later running mixcoord first`, remedy: `upgrade to ${PRE_26} with mixcoord first ("upgrade --to ${to}" plans both steps)` };
    }
    if (!j.components?.includes('mixcoord')) {
      return { code: 'into-2.6-mixcoord', reason: `${from} -> ${to}: 2.6 needs mixcoord running before the jump, and the release has none`, remedy: `"upgrade --to ${to}" replaces the coordinators by mixcoord first` };
    }
    if (!j.components.includes('streamingnode')) {
      return { code: 'into-2.6-streaming', reason: `Milvus ${to} needs a streaming node, which an image change cannot create: the cluster would go down mid-run`, remedy: `"upgrade --to ${to}" adds it (chart 5 with streaming.enabled, or the Milvus Operator >= 1.3.7)` };
    }
  }
  return undefined;
}
