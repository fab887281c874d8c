/** Every subcommand, in the order `--help` lists them. */
import type { CommandSpec } from '../cli/command.js';
import { statusCommand } from './status.js';
import { listCommand } from './list.js';
import { pvcListCommand } from './pvc-list.js';
import { flushCommand } from './flush.js';
import { pulsarUpgradeCommand } from './pulsar-upgrade.js';
import { metaMigrateCommand } from './meta-migrate.js';
import { rollingUpdateCommand } from './rolling-update.js';
import { upgradeCommand } from './upgrade.js';
import { versionCommand } from './version.js';
import { completionCommand } from './completion.js';
import { backupCommand } from './backup.js';
import { healthCommand } from './health.js';
import { reportCommand } from './report.js';
import { etcdMaintainCommand } from './etcd-maintain.js';
import { mqSwitchCommand } from './mq-switch.js';

export const COMMANDS: CommandSpec<any>[] = [
  listCommand,
  statusCommand,
  healthCommand,
  reportCommand,
  pvcListCommand,
  flushCommand,
  pulsarUpgradeCommand,
  metaMigrateCommand,
  rollingUpdateCommand,
  upgradeCommand,
  backupCommand,
  etcdMaintainCommand,
  mqSwitchCommand,
  versionCommand,
  completionCommand,
];
