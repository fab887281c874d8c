// Placeholder registered so the CLI builds; the real command replaces this file.
import type { CommandSpec } from '../cli/command.js';
import { CliError } from '../errors.js';

export const rollingUpdateCommand: CommandSpec = {
  command: 'rolling-update',
  describe: '(not built yet)',
  builder: (y) => y,
  run: async () => {
    throw new CliError('rolling-update is not built yet');
  },
};
