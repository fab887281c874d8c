// Placeholder registered so the CLI builds; the real command replaces this file.
import type { CommandSpec } from '../cli/command.js';
import { CliError } from '../errors.js';

export const pvcListCommand: CommandSpec = {
  command: 'pvc-list',
  describe: '(not built yet)',
  builder: (y) => y,
  run: async () => {
    throw new CliError('pvc-list is not built yet');
  },
};
