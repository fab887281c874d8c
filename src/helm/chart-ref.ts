/**
 * A chart reference as helm resolves it (`helm show chart`), checked before a procedure prints its
 * plan or changes anything. A reference helm cannot resolve (no such repository added, a version
 * it does not have, an index it cannot fetch) is a precondition (exit 7), not a failed operation:
 * nothing was changed, and the user can add the repository or pass --chart.
 */
import yaml from 'js-yaml';
import semver from 'semver';
import { ExitCode, preconditionError } from '../errors.js';
import { HelmCommandError, type Helm } from './helm.js';

export interface ChartMeta {
  name?: string | undefined;
  version?: string | undefined;
  appVersion?: string | undefined;
}

/** `helm show chart CHART [--version V]`; a reference helm cannot resolve is exit 7 naming the way out. */
export async function resolveChart(helm: Pick<Helm, 'run'>, chart: string, version: string | undefined): Promise<ChartMeta> {
  const verArgs = version ? ['--version', version] : [];
  let out: string;
  try {
    out = await helm.run(['show', 'chart', chart, ...verArgs], { kube: false });
  } catch (e) {
    if (!(e instanceof HelmCommandError) || e.exitCode === ExitCode.INTERRUPTED) throw e;
    const repo = /^([\w.-]+)\/[\w.-]+$/.exec(chart)?.[1];
    const add = repo === 'zilliztech' ? 'helm repo add zilliztech https://zilliztech.github.io/milvus-helm && helm repo update zilliztech' : repo ? `helm repo add ${repo} <its URL> && helm repo update ${repo}` : undefined;
    throw preconditionError(
      `helm cannot resolve the chart ${chart}${version ? ` ${version}` : ''}: ${e.message.replace(/^helm show failed: /, '')}`,
      `${add ? `add its repository (${add}), or ` : ''}pass --chart with a chart helm can resolve (a repo/name, an oci:// reference, a URL or a local path); nothing was changed`,
    );
  }
  const meta = yaml.load(out) as ChartMeta | undefined;
  return meta && typeof meta === 'object' ? meta : {};
}

/** Two chart versions, compared as semver (a leading "v" aside); prereleases count. */
const sameVersion = (a: string, b: string) => (semver.valid(a) ?? a.replace(/^v/, '')) === (semver.valid(b) ?? b.replace(/^v/, ''));

/**
 * The chart of version `version` (when one is pinned): resolved, and of that version. A chart
 * directory or archive has one version whatever --version says: another one is refused.
 */
export async function requireChart(helm: Pick<Helm, 'run'>, chart: string, version: string | undefined): Promise<ChartMeta & { version: string }> {
  const meta = await resolveChart(helm, chart, version);
  const v = meta.version;
  if (!v || (version && !sameVersion(v, version))) {
    throw preconditionError(`chart ${chart}${version ? ` ${version}` : ''} is not available (helm show chart answered version ${v ?? 'none'})`, 'helm repo update, or pass --chart / --chart-version');
  }
  return { ...meta, version: v };
}
