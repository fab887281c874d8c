import { defineCommand } from '../cli/command.js';
import { printDocument } from '../output/printer.js';
import { BUILD_DATE, GIT_COMMIT, VERSION } from '../version-info.js';

export const versionCommand = defineCommand({
  name: 'version',
  describe: 'Print the plugin version and, when the cluster is reachable, the server version',
  outputs: ['table', 'json', 'yaml'],
  offline: (args) => args.client,
  examples: [['$0 version --client', 'The plugin version only, without contacting the cluster']],
  flags: [
    { name: 'client', type: 'boolean', default: false, describe: 'Client version only (no server required).' },
  ],
  run: async (ctx, args) => {
    const clientVersion = {
      version: `v${VERSION}`,
      gitCommit: GIT_COMMIT,
      buildDate: BUILD_DATE,
      nodeVersion: process.version,
      platform: `${process.platform}/${process.arch}`,
    };
    let serverVersion: string | undefined;
    if (!args.client) {
      try {
        serverVersion = await ctx.kube().serverVersion();
      } catch (e) {
        ctx.log.debug(1, `server version unavailable: ${(e as Error).message}`);
      }
    }
    const doc = { clientVersion, ...(serverVersion ? { serverVersion: { gitVersion: serverVersion } } : {}) };
    if (printDocument(ctx, doc)) return;
    let out = `Client Version: ${clientVersion.version} (commit ${GIT_COMMIT}, ${clientVersion.nodeVersion}, ${clientVersion.platform})\n`;
    if (serverVersion) out += `Server Version: ${serverVersion}\n`;
    else if (!args.client) ctx.log.info('Server Version: unavailable (no reachable cluster in the current context)');
    ctx.print(out);
  },
});
