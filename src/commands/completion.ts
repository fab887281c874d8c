import { defineCommand } from '../cli/command.js';
import { usageError } from '../errors.js';
import { bashScript, fishScript, zshScript } from '../completion/scripts.js';

export const completionCommand = defineCommand({
  name: 'completion',
  args: [{ name: 'shell', describe: 'bash, zsh or fish' }],
  describe: 'Print a shell completion script (bash, zsh or fish)',
  offline: true,
  examples: [
    ['source <($0 completion bash)', 'Complete kubectl-milvus in the current bash'],
    ['ln -s "$(command -v kubectl-milvus)" ~/.local/bin/kubectl_complete-milvus', 'Let kubectl >= 1.26 complete "kubectl milvus ..."'],
  ],
  run: async (ctx, args) => {
    const scripts: Record<string, () => string> = { bash: bashScript, zsh: zshScript, fish: fishScript };
    const make = scripts[args.shell];
    if (!make) throw usageError(`unsupported shell "${args.shell}": use bash, zsh or fish`);
    ctx.print(make());
  },
});
