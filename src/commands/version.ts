// Placeholder registered so the CLI builds; the real command replaces this file.
import type { CommandSpec } from '../cli/command.js';
import { CliError } from '../errors.js';

export const versionCommand: CommandSpec = {
  command: 'version',
  describe: '(not built yet)',
  builder: (y) => y,
  run: async () => {
    throw new CliError('version is not built yet');
  },
};
