// Placeholder registered so the CLI builds; the real command replaces this file.
import type { CommandSpec } from '../cli/command.js';
import { CliError } from '../errors.js';

export const flushCommand: CommandSpec = {
  command: 'flush',
  describe: '(not built yet)',
  builder: (y) => y,
  run: async () => {
    throw new CliError('flush is not built yet');
  },
};
