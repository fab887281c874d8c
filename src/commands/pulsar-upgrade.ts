// Placeholder registered so the CLI builds; the real command replaces this file.
import type { CommandSpec } from '../cli/command.js';
import { CliError } from '../errors.js';

export const pulsarUpgradeCommand: CommandSpec = {
  command: 'pulsar-upgrade',
  describe: '(not built yet)',
  builder: (y) => y,
  run: async () => {
    throw new CliError('pulsar-upgrade is not built yet');
  },
};
