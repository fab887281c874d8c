/**
 * The Pulsar v2 volumes of one release, found by label (never by name), and their removal:
 * the PVCs, then the PV objects that a Retain reclaim policy would leave behind.
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode } from '../errors.js';
import { isNotFound } from '../kube/errors.js';
import { pollUntil } from '../procedure/wait.js';

export interface PulsarVolume {
  pvc: string;
  /** The claim's uid: its PV is deleted only while still bound to this very claim. */
  pvcUid?: string | undefined;
  pv: string | undefined;
  reclaimPolicy: string | undefined;
}

export async function listPulsarVolumes(ctx: RunContext, namespace: string, selector: string): Promise<PulsarVolume[]> {
  const kube = ctx.kube();
  const pvcs = await kube.listAll(
    { verb: 'list', resource: 'persistentvolumeclaims', namespace },
    (o) => kube.core.listNamespacedPersistentVolumeClaim({ namespace, ...o }),
    { labelSelector: selector },
  );
  const out: PulsarVolume[] = [];
  for (const p of pvcs) {
    const pv = p.spec?.volumeName || undefined;
    let reclaimPolicy: string | undefined;
    if (pv) {
      try {
        const obj = await kube.call({ verb: 'get', resource: 'persistentvolumes', name: pv }, () => kube.core.readPersistentVolume({ name: pv }));
        reclaimPolicy = obj.spec?.persistentVolumeReclaimPolicy;
      } catch (e) {
        if (!(e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND)) throw e;
      }
    }
    out.push({ pvc: p.metadata!.name!, pvcUid: p.metadata?.uid, pv, reclaimPolicy });
  }
  return out.sort((a, b) => a.pvc.localeCompare(b.pvc));
}

async function waitGone(ctx: RunContext, what: string, read: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  await pollUntil(ctx, {
    what: `${what} to be deleted`,
    timeoutMs,
    intervalMs: 500,
    hint: 'a finalizer, or a pod still using it?',
    check: async () => {
      try {
        await read();
        return undefined;
      } catch (e) {
        if (isNotFound(e)) return true;
        throw e;
      }
    },
  });
}

/** Deletes the PVCs and, where the reclaim policy keeps them, their PVs; waits until all are gone. */
export async function deletePulsarVolumes(ctx: RunContext, namespace: string, volumes: PulsarVolume[], log: (m: string) => void, timeoutMs = 120_000): Promise<void> {
  const kube = ctx.kube();
  for (const v of volumes) {
    try {
      await kube.call({ verb: 'delete', resource: 'persistentvolumeclaims', namespace, name: v.pvc }, () =>
        kube.core.deleteNamespacedPersistentVolumeClaim({ name: v.pvc, namespace }),
      );
      log(`deleted persistentvolumeclaim/${v.pvc}`);
    } catch (e) {
      if (!(e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND)) throw e;
    }
  }
  for (const v of volumes) {
    await waitGone(ctx, `persistentvolumeclaim/${v.pvc}`, () => kube.core.readNamespacedPersistentVolumeClaim({ name: v.pvc, namespace }), timeoutMs);
  }
  for (const v of volumes) {
    if (!v.pv) continue;
    if (v.reclaimPolicy === 'Retain') {
      try {
        const pv = await kube.call({ verb: 'get', resource: 'persistentvolumes', name: v.pv }, () => kube.core.readPersistentVolume({ name: v.pv! }));
        const uid = pv.spec?.claimRef?.uid;
        if (!v.pvcUid || uid !== v.pvcUid) {
          // Bound again (or never recorded): it may hold someone else's data now.
          log(`kept persistentvolume/${v.pv}: its claim is ${pv.spec?.claimRef?.namespace ?? '?'}/${pv.spec?.claimRef?.name ?? '?'} uid ${uid ?? 'none'}, not the deleted persistentvolumeclaim/${v.pvc}${v.pvcUid ? ` uid ${v.pvcUid}` : ''}`);
          continue;
        }
        await kube.call({ verb: 'delete', resource: 'persistentvolumes', name: v.pv }, () =>
          kube.core.deletePersistentVolume({ name: v.pv!, body: { preconditions: { uid: pv.metadata?.uid } } }),
        );
        log(`deleted persistentvolume/${v.pv} (reclaim policy Retain)`);
      } catch (e) {
        if (!(e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND)) throw e;
        continue;
      }
    }
    await waitGone(ctx, `persistentvolume/${v.pv}`, () => kube.core.readPersistentVolume({ name: v.pv! }), timeoutMs);
  }
}
