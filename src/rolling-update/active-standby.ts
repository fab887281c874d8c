/**
 * Coordinators in active-standby before a rolling update (what rollingUpdate.sh's
 * set_rollingupdate_mode means): `enableActiveStandby: true` for rootCoord, queryCoord, dataCoord
 * and indexCoord in the user configuration file that the coordinator pods really mount. The
 * ConfigMap and key are read from the coordinator Deployment's volumes (the chart's fullname is
 * the release name when it contains "milvus", and charts <= 3.1 used milvus.yaml), never guessed
 * as `<release>-milvus`.
 */
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import type { ComponentName } from '../release/types.js';

export const ACTIVE_STANDBY_SECTIONS = ['rootCoord', 'queryCoord', 'dataCoord', 'indexCoord'] as const;

/** The text upstream appends, used when the file has none of these sections (keeps its comments). */
export const ACTIVE_STANDBY_YAML = ACTIVE_STANDBY_SECTIONS.map((s) => `${s}:\n  enableActiveStandby: true`).join('\n');

/** The configuration sections each coordinator reads; mixcoord runs them all. */
export function sectionsFor(components: ComponentName[]): string[] {
  const need = new Set<string>();
  for (const c of components) {
    if (c === 'mixcoord') ['rootCoord', 'queryCoord', 'dataCoord'].forEach((s) => need.add(s));
    if (c === 'rootcoord') need.add('rootCoord');
    if (c === 'querycoord') need.add('queryCoord');
    if (c === 'datacoord') need.add('dataCoord');
    if (c === 'indexcoord') need.add('indexCoord');
  }
  return [...need];
}

export interface ConfigTarget {
  configMap: string;
  key: string;
}

/**
 * The ConfigMap and key mounted as the user configuration (/milvus/configs/user.yaml, or
 * milvus.yaml of old charts) in the Deployment's pods, if it mounts one.
 */
export function mountedUserConfig(d: V1Deployment, container?: string): ConfigTarget | undefined {
  const spec = d.spec?.template?.spec;
  const containers = spec?.containers ?? [];
  const c = containers.find((x) => x.name === container) ?? containers[0];
  for (const file of ['user.yaml', 'milvus.yaml']) {
    const mount = c?.volumeMounts?.find((m) => m.mountPath === `/milvus/configs/${file}`);
    const vol = mount && spec?.volumes?.find((v) => v.name === mount.name);
    if (vol?.configMap?.name) return { configMap: vol.configMap.name, key: mount!.subPath || file };
  }
  return undefined;
}

type Doc = Record<string, unknown>;

function load(text: string | undefined): Doc {
  if (!text) return {};
  // The chart writes some keys more than once (mq, messageQueue); Milvus takes the last one, as json mode does.
  const v = yaml.load(text, { json: true });
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : {};
}

/** Sections whose effective enableActiveStandby (default.yaml, then the user file) is not true. */
export function missingActiveStandby(cm: V1ConfigMap, key: string, sections: string[]): string[] {
  const base = load(cm.data?.['default.yaml']);
  const user = load(cm.data?.[key]);
  const value = (doc: Doc, s: string) => (doc[s] as Doc | undefined)?.enableActiveStandby;
  return sections.filter((s) => {
    const v = value(user, s) ?? value(base, s);
    return !(v === true || v === 'true');
  });
}

/**
 * The user file with enableActiveStandby: true for every coordinator section. Without any of the
 * sections the block is appended (comments survive, as upstream); otherwise the document is
 * merged, because a second top-level `rootCoord:` would be a duplicate key.
 */
export function withActiveStandby(text: string | undefined): string {
  const current = text ?? '';
  const doc = load(current);
  if (!ACTIVE_STANDBY_SECTIONS.some((s) => s in doc)) {
    const sep = current === '' || current.endsWith('\n') ? '' : '\n';
    return `${current}${sep}${ACTIVE_STANDBY_YAML}\n`;
  }
  for (const s of ACTIVE_STANDBY_SECTIONS) {
    const section = doc[s] && typeof doc[s] === 'object' ? (doc[s] as Doc) : {};
    doc[s] = { ...section, enableActiveStandby: true };
  }
  return yaml.dump(doc, { lineWidth: -1 });
}
