import { defineCommand } from '../cli/command.js';
import { FLEET_FLAGS, fleetOptions } from '../fleet/options.js';
import { age } from '../output/duration.js';
import { render, type Column } from '../output/printer.js';
import type { ListItem } from '../fleet/rows.js';

export const listCommand = defineCommand({
  name: 'list',
  describe: 'List the Milvus releases (Helm and Operator) of a namespace, every namespace (-A) or several contexts',
  outputs: ['table', 'wide', 'json', 'yaml', 'name'],
  examples: [
    ['$0 list -A', 'Every release of the cluster: install method, mode, what the pods run, queue, readiness, what to do next'],
    ['$0 list -A --context prod-eu,prod-us -o wide', 'Two clusters at once (a CONTEXT column first), with topology and images'],
    ['$0 list -A --all-contexts --request-timeout 10s -o json', 'Every context of the kubeconfig; a context that fails is named in "errors"'],
  ],
  flags: FLEET_FLAGS,
  run: async (ctx, args) => {
    const o = fleetOptions(args, ctx.globals, ctx.host);
    const [{ resolveTargets }, { readTargets, fleetExitCode }, { listItem, versionCell, topologyCell, imageCell }, { fleetFailure, reportOutcomes }] = await Promise.all([
      import('../fleet/contexts.js'),
      import('../fleet/read.js'),
      import('../fleet/rows.js'),
      import('../fleet/report.js'),
    ]);
    const { targets, several } = resolveTargets(ctx, o);
    const outcomes = await readTargets(targets, o);
    const { errors, warnings } = reportOutcomes(ctx, outcomes, several);
    const items = outcomes.flatMap((x) => ('ok' in x ? x.ok.releases.map((r) => listItem(r, several ? x.ok.context : undefined)) : []));
    const now = ctx.now();
    const columns: Column<ListItem>[] = [
      ...(several ? [{ header: 'CONTEXT', value: (i: ListItem) => i.context }] : []),
      { header: 'NAMESPACE', value: (i) => i.namespace },
      { header: 'NAME', value: (i) => i.name },
      { header: 'METHOD', value: (i) => i.installedBy },
      { header: 'MODE', value: (i) => i.mode },
      { header: 'VERSION', value: versionCell },
      { header: 'MQ', value: (i) => i.mq },
      { header: 'READY', value: (i) => i.ready },
      { header: 'NEXT', value: (i) => i.next?.action },
      { header: 'AGE', value: (i) => age(i.createdAt ?? undefined, now) },
      { header: 'TOPOLOGY', value: topologyCell, wide: true },
      { header: 'IMAGE', value: imageCell, wide: true },
    ];
    const fmt = ctx.globals.output;
    if (items.length === 0 && (fmt === 'table' || fmt === 'wide' || fmt === 'name')) {
      const read = outcomes.filter((x) => 'ok' in x);
      if (read.length) ctx.log.info(`No Milvus releases found${o.allNamespaces ? '' : read.length === 1 && 'ok' in read[0]! && read[0].ok.namespace ? ` in ${read[0].ok.namespace} namespace` : ''}.`);
    } else {
      ctx.print(
        render({
          format: fmt,
          document: { apiVersion: 'kubectl-milvus.io/v1', kind: 'ReleaseList', items, errors, warnings },
          rows: items,
          columns,
          name: (i) => `release/${i.name}`,
        }),
      );
    }
    const code = fleetExitCode(outcomes);
    if (code !== 0) throw fleetFailure(outcomes, several, code);
  },
});
