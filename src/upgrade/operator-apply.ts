/**
 * The 3.0 hop on a Milvus Operator release applies the complete Milvus resource (3.0 guide,
 * upgrade_milvus_cluster-operator.md: "Do not use an image-only merge patch. The Operator can
 * default omitted zero-replica component fields, which can re-enable a component"): the resource
 * as the server has it, with the hop's fields set, replaced whole at the resourceVersion read (a
 * concurrent change is refused, never overwritten), after a server-side dry-run of the same body.
 */
import type { Kube } from '../kube/client.js';
import { MILVUS_GROUP, MILVUS_VERSION } from '../kube/client.js';
import type { MilvusResource } from '../release/types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `base` with every leaf of `set` written into it (objects merged, anything else replaced). */
export function setFields(base: Obj, set: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(set)) out[k] = isObj(v) && isObj(out[k]) ? setFields(out[k] as Obj, v) : structuredClone(v);
  return out;
}

/** The complete resource to apply: identity, labels, annotations and resourceVersion as read, the spec with the hop's fields set; no status. */
export function completeResource(m: MilvusResource, set: Obj): MilvusResource {
  const { name, namespace, labels, annotations, resourceVersion } = m.metadata;
  return {
    apiVersion: m.apiVersion ?? `${MILVUS_GROUP}/${MILVUS_VERSION}`,
    kind: m.kind ?? 'Milvus',
    metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
    spec: setFields((m.spec ?? {}) as Obj, (set.spec ?? {}) as Obj),
  };
}

/** Replaces the Milvus resource with `body` (its resourceVersion guards against a concurrent change); `dryRun`: the server validates and defaults it, nothing is stored. */
export async function replaceMilvus(kube: Kube, namespace: string, body: MilvusResource, dryRun: boolean): Promise<MilvusResource> {
  const name = body.metadata.name;
  return (await kube.call({ verb: 'update', resource: 'milvuses.milvus.io', namespace, name }, () =>
    kube.custom.replaceNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural: 'milvuses', name, body, ...(dryRun ? { dryRun: 'All' } : {}), fieldManager: 'kubectl-milvus' }),
  )) as MilvusResource;
}

const leaves = (set: Obj, prefix: string[] = []): Array<[string[], unknown]> => Object.entries(set).flatMap(([k, v]) => (isObj(v) ? leaves(v, [...prefix, k]) : [[[...prefix, k], v] as [string[], unknown]]));
const at = (o: unknown, path: string[]): unknown => path.reduce<unknown>((x, k) => (isObj(x) ? x[k] : undefined), o);

/**
 * Whether the resource as the server has it shows the hop's apply: spec.components.image as set,
 * and no other field of `set` holding another value (one the operator dropped after the apply,
 * such as indexNode of a 2.6+ release, does not count against it).
 */
export function showsApplied(m: MilvusResource, set: Obj): boolean {
  const image = at(set, ['spec', 'components', 'image']);
  if (image === undefined || at(m, ['spec', 'components', 'image']) !== image) return false;
  return leaves(set).every(([path, v]) => {
    const now = at(m, path);
    return now === undefined || JSON.stringify(now) === JSON.stringify(v);
  });
}

/** The fields a hop sets, as "path=value" lines for the plan. */
export function fieldLines(set: Obj, prefix = ''): string[] {
  return Object.entries(set).flatMap(([k, v]) => (isObj(v) ? fieldLines(v, `${prefix}${k}.`) : [`${prefix}${k}=${JSON.stringify(v)}`]));
}
