import { defineCommand, RELEASE_ARG, validateReleaseName } from '../cli/command.js';
import { age } from '../output/duration.js';
import { render, type Column } from '../output/printer.js';
import type { ReleasePvc } from '../pvc-list/list-pvcs.js';

export const pvcListCommand = defineCommand({
  name: 'pvc-list',
  args: [RELEASE_ARG],
  describe: "List the Pulsar PVCs of a release and their PVs (with --all-components: every volume of the release)",
  outputs: ['table', 'wide', 'json', 'yaml', 'name'],
  examples: [
    ['$0 pvc-list my-release -n milvus', "List the release's Pulsar volumes"],
    ['$0 pvc-list my-release --all-components -o wide', 'Every volume of the release, with the PV details'],
    ['$0 pvc-list my-release -o name', 'persistentvolumeclaim/NAME lines, e.g. to review before deleting'],
  ],
  flags: [
    { name: 'all-components', type: 'boolean', default: false, describe: 'Also list etcd, MinIO and Milvus volumes.' },
  ],
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    const [{ discoverRelease }, { accessModes, listReleasePvcs }] = await Promise.all([
      import('../release/discover.js'),
      import('../pvc-list/list-pvcs.js'),
    ]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    const { items, pvsForbidden } = await listReleasePvcs(kube, release, args['all-components']);
    if (pvsForbidden) ctx.log.warn('cannot list persistentvolumes (cluster-scoped): RECLAIM POLICY is shown as <unknown>');
    const now = ctx.now();
    const columns: Column<ReleasePvc>[] = [
      { header: 'NAME', value: (r) => r.pvc.metadata?.name },
      { header: 'STATUS', value: (r) => r.pvc.status?.phase },
      { header: 'VOLUME', value: (r) => r.pvc.spec?.volumeName ?? '' },
      { header: 'CAPACITY', value: (r) => r.pvc.status?.capacity?.storage ?? '' },
      { header: 'ACCESS MODES', value: (r) => accessModes(r.pvc) },
      { header: 'STORAGECLASS', value: (r) => r.pvc.spec?.storageClassName },
      { header: 'RECLAIM POLICY', value: (r) => (r.pv ? r.pv.spec?.persistentVolumeReclaimPolicy : pvsForbidden ? '<unknown>' : '') },
      { header: 'COMPONENT', value: (r) => r.component },
      { header: 'PULSAR', value: (r) => r.pulsar ?? '', wide: true },
      { header: 'VOLUMEMODE', value: (r) => r.pvc.spec?.volumeMode ?? 'Filesystem', wide: true },
      { header: 'AGE', value: (r) => age(r.pvc.metadata?.creationTimestamp, now) },
    ];
    if (items.length === 0 && (ctx.globals.output === 'table' || ctx.globals.output === 'wide' || ctx.globals.output === 'name')) {
      ctx.log.info(`No resources found in ${release.namespace} namespace.`);
      return;
    }
    ctx.print(
      render({
        format: ctx.globals.output,
        document: {
          apiVersion: 'v1',
          kind: 'List',
          metadata: { resourceVersion: '' },
          items: items.map((r) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: r.pvc.metadata, spec: r.pvc.spec, status: r.pvc.status })),
        },
        rows: items,
        columns,
        name: (r) => `persistentvolumeclaim/${r.pvc.metadata?.name}`,
      }),
    );
  },
});
