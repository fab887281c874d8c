/** The Milvus resource of Milvus Operator (milvuses.milvus.io): read it, and change it by merge patch only (never a partial manifest). */
import type { ComponentName, MilvusResource } from '../release/types.js';
import { MILVUS_GROUP, MILVUS_VERSION, mergePatch, type Kube } from './client.js';

/** The resource, or undefined when the API server answers 404 (no such Milvus, or no milvus.io CRD); any other error is thrown. */
export async function getMilvusResource(kube: Kube, namespace: string, name: string): Promise<MilvusResource | undefined> {
  return (await kube.getIfExists({ verb: 'get', resource: 'milvuses.milvus.io', namespace, name }, () =>
    kube.custom.getNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural: 'milvuses', name }),
  )) as MilvusResource | undefined;
}

/** A JSON merge patch of the fields in `body`; the rest of the spec stays as it is. */
export async function mergePatchMilvus(kube: Kube, namespace: string, name: string, body: object): Promise<void> {
  await kube.call({ verb: 'patch', resource: 'milvuses.milvus.io', namespace, name }, () =>
    kube.custom.patchNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural: 'milvuses', name, body }, mergePatch),
  );
}

/** The field of the Milvus resource's spec.components that configures each component (the operator's MilvusComponents). */
export const SPEC_FIELD: Record<ComponentName, string> = {
  standalone: 'standalone',
  proxy: 'proxy',
  mixcoord: 'mixCoord',
  rootcoord: 'rootCoord',
  datacoord: 'dataCoord',
  querycoord: 'queryCoord',
  indexcoord: 'indexCoord',
  streamingnode: 'streamingNode',
  querynode: 'queryNode',
  datanode: 'dataNode',
  indexnode: 'indexNode',
};
