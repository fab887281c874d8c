/**
 * A Helm chart repository of the test bed's chart at several versions, served on 127.0.0.1 for
 * the upgrade tests: each version is the chart with the defaults the real chart had at that
 * version (testbed/charts/milvus/version-defaults.yaml applied up to it), so that an upgrade from
 * 4.2.30 to 4.2.58 or 5.0.22 with --reset-then-reuse-values meets the real default changes
 * (Pulsar v3 on, streaming on, indexNode off, standalone woodpecker).
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import semver from 'semver';
import { CHART, helm } from './harness.js';

type Values = Record<string, unknown>;

function merge(a: Values, b: Values): Values {
  const out: Values = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = cur && v && typeof cur === 'object' && typeof v === 'object' && !Array.isArray(v) ? merge(cur as Values, v as Values) : v;
  }
  return out;
}

export interface ChartRepo {
  name: string;
  dir: string;
  url: string;
  /** The packaged .tgz of a version (for helm install). */
  tgz(version: string): string;
  close(): Promise<void>;
}

export async function startChartRepo(name: string, versions: string[]): Promise<ChartRepo> {
  const dir = mkdtempSync(join(tmpdir(), 'km-chart-repo-'));
  const overlays = yaml.load(readFileSync(join(CHART, 'version-defaults.yaml'), 'utf8')) as Record<string, Values>;
  for (const version of versions) {
    const src = join(mkdtempSync(join(tmpdir(), `km-chart-${version}-`)), 'milvus');
    cpSync(CHART, src, { recursive: true });
    const chartYaml = join(src, 'Chart.yaml');
    writeFileSync(chartYaml, readFileSync(chartYaml, 'utf8').replace(/^version: .*$/m, `version: ${version}`));
    let values = yaml.load(readFileSync(join(src, 'values.yaml'), 'utf8')) as Values;
    for (const [since, overlay] of Object.entries(overlays).sort(([a], [b]) => semver.compare(a, b))) {
      if (semver.gte(version, since)) values = merge(values, overlay);
    }
    writeFileSync(join(src, 'values.yaml'), `# milvus chart ${version} defaults (test bed)\n${yaml.dump(values)}`);
    await helm(['package', src, '-d', dir]);
  }
  const server: Server = createServer((req, res) => {
    try {
      const file = join(dir, (req.url ?? '/').split('?')[0]!.replace(/^\/+/, '').replace(/\.\./g, ''));
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': file.endsWith('.yaml') ? 'text/yaml' : 'application/gzip' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await helm(['repo', 'index', dir, '--url', url]);
  await helm(['repo', 'add', name, url, '--force-update']);
  return {
    name,
    dir,
    url,
    tgz: (v) => join(dir, `milvus-${v}.tgz`),
    async close() {
      await helm(['repo', 'remove', name]).catch(() => undefined);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
