/**
 * Which chart version the Helm reinstall uses when --chart-version is not given: never whatever
 * the local repository cache holds. The release's own chart version when it can run Pulsar v3
 * (>= MIN_CHART_FOR_V3, the first whose Pulsar v3 installs work), else MIN_CHART_FOR_V3, the lowest
 * that can.
 */
import semver from 'semver';

/** First chart version whose Pulsar v3 installs work (nil pointer fixed after 4.2.28). */
export const MIN_CHART_FOR_V3 = '4.2.29';

export function pinnedChartVersion(given: string | undefined, source: string | undefined): string {
  if (given) return given;
  const v = source ? semver.coerce(source) : null;
  if (v && semver.gte(v, MIN_CHART_FOR_V3)) return source!;
  return MIN_CHART_FOR_V3;
}

/** A --chart or --chart-version value that helm would read as a flag is refused. */
export function looksLikeFlag(value: string | undefined): boolean {
  return value !== undefined && value.startsWith('-');
}
