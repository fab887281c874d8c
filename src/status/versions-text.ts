/** How a release's running versions read in status and its risks (no imports: the status command's table loads it eagerly). */
export const describeVersions = (vs: Array<{ version: string; components: string[] }>): string => vs.map((v) => `${v.version}: ${v.components.join(', ')}`).join('; ');
