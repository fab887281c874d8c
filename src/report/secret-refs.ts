/**
 * Names of the Secrets a pod spec uses: env `valueFrom.secretKeyRef`, `envFrom[].secretRef`,
 * `secret` and `projected` volumes, image pull secrets. The report treats these as the release's
 * Secrets whether or not they carry a release label: their values are scrubbed from the bundle.
 */
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';

export function secretNamesOf(spec: V1PodSpec | undefined): string[] {
  if (!spec) return [];
  const names = new Set<string>();
  const add = (n: string | undefined) => {
    if (n) names.add(n);
  };
  const containers: V1Container[] = [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...((spec.ephemeralContainers ?? []) as V1Container[])];
  for (const c of containers) {
    for (const e of c.env ?? []) add(e.valueFrom?.secretKeyRef?.name);
    for (const e of c.envFrom ?? []) add(e.secretRef?.name);
  }
  for (const v of spec.volumes ?? []) {
    add(v.secret?.secretName);
    for (const s of v.projected?.sources ?? []) add(s.secret?.name);
  }
  for (const s of spec.imagePullSecrets ?? []) add(s.name);
  return [...names];
}
