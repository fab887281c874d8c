// Placeholder registered so the CLI builds; the real command replaces this file.
import type { CommandSpec } from '../cli/command.js';
import { CliError } from '../errors.js';

export const completionCommand: CommandSpec = {
  command: 'completion',
  describe: '(not built yet)',
  builder: (y) => y,
  run: async () => {
    throw new CliError('completion is not built yet');
  },
};
