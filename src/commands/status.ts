import { defineCommand, RELEASE_ARG, validateReleaseName } from '../cli/command.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import type { ComponentStatus, StatusReport } from '../status/report.js';
import { describeVersions } from '../status/versions-text.js';

/** The version line: what the pods run; a mixed release says so, with who runs what. */
export function versionText(r: StatusReport): string | undefined {
  if (r.running === 'mixed') return `mixed (${describeVersions(r.runningVersions)}): an update is in progress or was left half done`;
  if (r.running !== undefined) return r.running;
  if (r.components.some((c) => c.running === undefined)) return `<unknown>: the pods could not be read${r.milvusVersion ? ` (the templates say ${r.milvusVersion})` : ''}`;
  return r.milvusVersion;
}

/** The IMAGE cell: the template's image, and what the pods run when that differs or the rollout is paused. */
export function imageCell(c: ComponentStatus): string {
  const other = (c.running ?? []).filter((i) => i !== c.image);
  const notes = [...(other.length ? [`pods: ${(c.running ?? []).join(', ')}`] : []), ...(c.rollout === 'paused' ? ['paused'] : [])];
  return notes.length ? `${c.image} (${notes.join('; ')})` : c.image;
}

function field(label: string, value: string | undefined): string {
  return `${(label + ':').padEnd(17)}${value ?? '<unknown>'}\n`;
}

export function renderStatus(r: StatusReport, wide: boolean): string {
  let out = '';
  out += field('Name', r.name);
  out += field('Namespace', r.namespace);
  out += field('Installed by', r.installedBy);
  if (r.operatorStatus !== undefined) out += field('Resource status', r.operatorStatus);
  out += field('Mode', r.mode);
  out += field('Milvus version', versionText(r));
  out += field('Message queue', r.pulsar ? `${r.messageQueue} (${r.pulsar.selector}; ${r.pulsar.evidence}${r.messageQueueEtcd ? `; ${r.messageQueueEtcd}` : ''})` : r.messageQueueSource ? `${r.messageQueue} (${r.messageQueueSource})` : r.messageQueue);
  out += field('Management API', r.proxy ?? '<none>: no proxy or standalone Deployment found');
  out += field('Healthy', r.healthy ? 'yes' : 'no');
  out += '\n';
  if (r.components.length > 0) {
    const headers = ['COMPONENT', 'DEPLOYMENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'IMAGE', ...(wide ? ['ROLLOUT', 'STRATEGY'] : [])];
    out += formatTable(
      headers,
      r.components.map((c) => [c.component, c.deployment, c.ready, c.upToDate, c.available, imageCell(c), ...(wide ? [c.rollout ?? '', c.strategy] : [])]),
    );
    out += '\n';
  }
  if (r.dependencies.length > 0) {
    out += formatTable(
      ['DEPENDENCY', 'KIND', 'NAME', 'READY'],
      r.dependencies.map((d) => [d.dependency, d.kind, d.name, d.ready]),
    );
    out += '\n';
  }
  out += formatTable(
    ['PROCEDURE', 'APPLIES', 'WHY'],
    r.procedures.map((p) => [p.procedure, p.applies ? 'yes' : 'no', p.reason]),
  );
  out += '\n';
  if (r.risks.length === 0) out += 'Risks: none found\n';
  else out += 'Risks:\n' + r.risks.map((x) => `  - ${x}\n`).join('');
  return out;
}

export const statusCommand = defineCommand({
  name: 'status',
  args: [RELEASE_ARG],
  describe: 'Show how a Milvus release is installed, its health, which upgrades apply and the risks',
  outputs: ['table', 'wide', 'json', 'yaml'],
  examples: [
    ['$0 status my-release -n milvus', 'One screen to act on: versions, MQ, replicas, procedures, risks'],
    ['$0 status my-release -o json', 'The same facts as JSON'],
  ],
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    const [{ discoverRelease }, { buildStatusReport }] = await Promise.all([
      import('../release/discover.js'),
      import('../status/report.js'),
    ]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    const { readEtcdQueue } = await import('../status/queue-source.js');
    const report = await buildStatusReport(kube, release, { etcdQueue: await readEtcdQueue(ctx, release) });
    const fmt = ctx.globals.output;
    if (!printDocument(ctx, report)) ctx.print(renderStatus(report, fmt === 'wide'));
  },
});
