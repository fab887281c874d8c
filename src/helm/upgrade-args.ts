/** The one `helm upgrade` argument list of the plugin: the release's values kept, the given values set on top. */
export function helmUpgradeArgs(release: string, chart: string, chartVersion: string | undefined, sets: ReadonlyArray<readonly [string, string]>): string[] {
  return ['upgrade', release, chart, ...(chartVersion ? ['--version', chartVersion] : []), '--reset-then-reuse-values', ...sets.flatMap(([k, v]) => ['--set', `${k}=${v}`])];
}
