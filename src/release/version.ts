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

export function lowestVersion(versions: Array<string | undefined>): string | undefined {
  const valid = versions.filter((v): v is string => Boolean(v && semver.valid(v)));
  return valid.sort(semver.compare)[0];
}

export const versionAtLeast = (v: string | undefined, min: string) => Boolean(v && semver.valid(v) && semver.gte(v, min));
export const versionBelow = (v: string | undefined, max: string) => Boolean(v && semver.valid(v) && semver.lt(v, max));
