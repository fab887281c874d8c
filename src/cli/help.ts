/**
 * Help text laid out as kubectl lays out its own: a description, Examples with a comment line
 * above each command, Options as `    -s, --long='default':` with the description on the next
 * line, then Usage, and the global flags on their own page (`kubectl milvus options`).
 */
import type { CommandSpec } from './command.js';
import type { FlagSpec } from './flags.js';

const WIDTH = 100;

function wrap(text: string, indent: string, width = WIDTH): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && indent.length + line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n');
}

function defaultText(f: FlagSpec): string {
  if (f.type === 'boolean') return String(f.default ?? false);
  if (f.type === 'strings') return '[]';
  return `'${typeof f.default === 'string' ? f.default : ''}'`;
}

export function flagsBlock(flags: readonly FlagSpec[]): string {
  const sorted = [...flags].sort((a, b) => a.name.localeCompare(b.name));
  return sorted
    .map((f) => {
      const names = f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
      const choices = f.choices ? ` One of: ${f.choices.join(', ')}.` : '';
      return `    ${names}=${defaultText(f)}:\n${wrap(f.describe + choices, '\t', WIDTH - 8)}\n`;
    })
    .join('\n');
}

function usageLine(prefix: string, spec: CommandSpec<any>): string {
  const args = (spec.args ?? []).map((a) => (a.optional ? `[${a.name.toUpperCase()}]` : a.name.toUpperCase())).join(' ');
  return `${prefix} ${spec.name}${args ? ` ${args}` : ''}${spec.flags?.length || spec.outputs ? ' [options]' : ''}`;
}

export function commandHelp(prefix: string, spec: CommandSpec<any>): string {
  let out = `${wrap(spec.describe.endsWith('.') ? spec.describe : `${spec.describe}.`, '', WIDTH)}\n`;
  if (spec.args?.length) {
    out += '\nArguments:\n';
    const w = Math.max(...spec.args.map((a) => a.name.length)) + 3;
    for (const a of spec.args) out += `  ${a.name.toUpperCase().padEnd(w)}${a.describe}\n`;
  }
  if (spec.examples?.length) {
    out += '\nExamples:\n';
    out += spec.examples.map(([cmd, what]) => `  # ${what}\n  ${cmd.replaceAll('$0', prefix)}\n`).join('\n');
  }
  const own = [...(spec.flags ?? [])];
  if (spec.outputs && spec.outputs.length > 0) {
    own.push({ name: 'output', short: 'o', type: 'string', describe: `Output format. One of: (${spec.outputs.join(', ')}).` });
  }
  if (own.length) out += `\nOptions:\n${flagsBlock(own)}`;
  out += `\nUsage:\n  ${usageLine(prefix, spec)}\n\n`;
  out += `Use "${prefix} options" for a list of global command-line options (applies to all commands).\n`;
  return out;
}

export function rootHelp(prefix: string, commands: readonly CommandSpec<any>[]): string {
  let out = `${prefix} runs the Milvus-on-Kubernetes maintenance runbooks as safe, resumable commands:\n`;
  out += 'flush, Pulsar v2 to v3, metadata migration and rolling updates, for Helm and Milvus Operator releases.\n\n';
  out += 'Commands:\n';
  const w = Math.max(...commands.map((c) => c.name.length)) + 3;
  for (const c of commands) out += `  ${c.name.padEnd(w)}${c.describe}\n`;
  out += `\nUsage:\n  ${prefix} <command> [flags] [options]\n\n`;
  out += `Use "${prefix} <command> --help" for more information about a given command.\n`;
  out += `Use "${prefix} options" for a list of global command-line options (applies to all commands).\n`;
  out += 'Exit codes: 2 usage, 3 config, 4 unreachable, 5 forbidden, 6 not found, 7 precondition, 8 aborted, 9 timeout, 10 failed, 12 unhealthy, 13 bad snapshot, 14 old snapshot format, 130 interrupted.\n';
  return out;
}

export function optionsHelp(globals: readonly FlagSpec[]): string {
  return `The following options can be passed to any command:\n\n${flagsBlock(globals)}`;
}
