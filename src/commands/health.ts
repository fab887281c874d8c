import { defineCommand, RELEASE_ARG, validateReleaseName } from '../cli/command.js';
import { formatTable } from '../output/table.js';
import { printDocument } from '../output/printer.js';
import type { HealthReport } from '../health/health.js';

export function renderHealth(h: HealthReport): string {
  let out = formatTable(['CHECK', 'STATUS', 'DETAIL'], h.checks.map((c) => [c.check, c.status, c.detail]));
  out += `\nRelease "${h.release}": ${h.status} (${h.summary.ok} ok, ${h.summary.warning} warning, ${h.summary.critical} critical)\n`;
  return out;
}

export const healthCommand = defineCommand({
  name: 'health',
  args: [RELEASE_ARG],
  describe: 'Judge a Milvus release: graded checks (ok, warning, critical); exit 12 on a critical one',
  outputs: ['table', 'json', 'yaml'],
  examples: [
    ['$0 health my-release -n milvus', 'Components, versions, /healthz of every pod, etcd sessions, dependencies, volumes, risks'],
    ['$0 health my-release -o json', 'For scripts and monitoring: {"status": "ok|warning|critical", "checks": [...]}'],
  ],
  run: async (ctx, args) => {
    const name = validateReleaseName(args.release);
    const [{ discoverRelease }, { checkHealth, unhealthyError }] = await Promise.all([import('../release/discover.js'), import('../health/health.js')]);
    const kube = ctx.kube();
    const release = await discoverRelease(kube, name, kube.namespace);
    const h = await checkHealth(ctx, release);
    if (!printDocument(ctx, h)) ctx.print(renderHealth(h));
    if (h.status === 'critical') throw unhealthyError(h);
  },
});
