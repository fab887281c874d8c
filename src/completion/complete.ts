/**
 * Completion candidates in cobra's protocol, which kubectl (>= 1.26) uses for plugins: kubectl
 * runs `kubectl_complete-milvus <words...>` (the last word possibly empty), reads one candidate
 * per line and a final `:<directive>` line (4 = no file completion). The shell scripts printed by
 * `completion bash|zsh|fish` use the same protocol through `kubectl-milvus __complete`.
 */
import type { Kube } from '../kube/client.js';
import { MILVUS_GROUP, MILVUS_VERSION } from '../kube/client.js';
import { kubeconfigContexts } from '../kube/kubeconfig.js';
import { OUTPUT_FORMATS } from '../output/printer.js';

export const NO_FILE_COMP = 4;

export interface CompletionSource {
  commands: Array<{ name: string; describe: string; flags: string[]; takesRelease: boolean }>;
  globalFlags: string[];
}

interface ParsedWords {
  command: string | undefined;
  positionals: string[];
  namespace?: string;
  context?: string;
  kubeconfig?: string;
  previous: string | undefined;
  current: string;
}

const VALUE_FLAGS = new Set(['-n', '--namespace', '--context', '--kubeconfig', '-o', '--output', '--request-timeout', '--as', '-v', '--v', '--verbose', '--max-parallel']);

export function parseWords(words: string[]): ParsedWords {
  const current = words.length > 0 ? words[words.length - 1]! : '';
  const done = words.slice(0, -1);
  const out: ParsedWords = { command: undefined, positionals: [], previous: done[done.length - 1], current };
  for (let i = 0; i < done.length; i++) {
    const w = done[i]!;
    const [flag, inline] = w.startsWith('--') && w.includes('=') ? [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] : [w, undefined];
    if (VALUE_FLAGS.has(flag)) {
      const value = inline ?? done[++i];
      if (flag === '-n' || flag === '--namespace') out.namespace = value;
      if (flag === '--context') out.context = value;
      if (flag === '--kubeconfig') out.kubeconfig = value;
      continue;
    }
    if (w.startsWith('-')) continue;
    if (!out.command) out.command = w;
    else out.positionals.push(w);
  }
  // A value flag just before the current word means the current word is its value.
  if (out.previous && !VALUE_FLAGS.has(out.previous)) out.previous = undefined;
  return out;
}

export async function releaseNames(kube: Kube, namespace: string): Promise<string[]> {
  const names = new Set<string>();
  try {
    const deps = await kube.apps.listNamespacedDeployment({ namespace, labelSelector: 'app.kubernetes.io/name=milvus' });
    for (const d of deps.items) {
      const inst = d.metadata?.labels?.['app.kubernetes.io/instance'];
      if (inst) names.add(inst);
    }
  } catch {
    /* completion never fails loudly */
  }
  try {
    const list = (await kube.custom.listNamespacedCustomObject({ group: MILVUS_GROUP, version: MILVUS_VERSION, namespace, plural: 'milvuses' })) as {
      items?: Array<{ metadata?: { name?: string } }>;
    };
    for (const m of list.items ?? []) if (m.metadata?.name) names.add(m.metadata.name);
  } catch {
    /* no CRD or no permission */
  }
  return [...names].sort();
}

/**
 * The kubeconfig's contexts that complete `word`; `--context` takes several names separated by
 * commas (list, health): the last one is completed, the ones before it are kept and not offered
 * again.
 */
export function contextCandidates(word: string, kubeconfig: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const cut = word.lastIndexOf(',') + 1;
  const [done, last] = [word.slice(0, cut), word.slice(cut)];
  const given = done.split(',').filter(Boolean);
  try {
    const { names } = kubeconfigContexts({ kubeconfig }, env);
    return names.filter((n) => n.startsWith(last) && !given.includes(n)).map((n) => done + n);
  } catch {
    return [];
  }
}

export async function complete(
  words: string[],
  source: CompletionSource,
  env: NodeJS.ProcessEnv,
  connect: (flags: { kubeconfig?: string; context?: string; namespace?: string }) => Kube,
): Promise<string[]> {
  const p = parseWords(words);
  const lines: string[] = [];
  const prefixed = (xs: string[]) => xs.filter((x) => x.startsWith(p.current));
  if (p.previous === '-o' || p.previous === '--output') {
    lines.push(...prefixed([...OUTPUT_FORMATS]));
  } else if (p.previous === '--context' || p.current.startsWith('--context=')) {
    lines.push(...contextCandidates(p.previous === '--context' ? p.current : p.current.slice('--context='.length), p.kubeconfig, env).map((c) => (p.previous === '--context' ? c : `--context=${c}`)));
  } else if (p.previous === '-n' || p.previous === '--namespace') {
    try {
      const kube = connect({ kubeconfig: p.kubeconfig, context: p.context });
      const nss = await kube.core.listNamespace();
      lines.push(...prefixed(nss.items.map((n) => n.metadata?.name ?? '').filter(Boolean)));
    } catch {
      /* nothing to offer */
    }
  } else if (p.previous) {
    // value of a flag we cannot complete
  } else if (p.current.startsWith('-')) {
    const cmd = source.commands.find((c) => c.name === p.command);
    lines.push(...prefixed([...(cmd?.flags ?? []), ...source.globalFlags]));
  } else if (!p.command) {
    for (const c of source.commands) if (c.name.startsWith(p.current)) lines.push(`${c.name}\t${c.describe}`);
  } else {
    const cmd = source.commands.find((c) => c.name === p.command);
    if (cmd?.takesRelease && p.positionals.length === 0) {
      try {
        const kube = connect({ kubeconfig: p.kubeconfig, context: p.context, namespace: p.namespace });
        lines.push(...prefixed(await releaseNames(kube, kube.namespace)));
      } catch {
        /* nothing to offer */
      }
    } else if (p.command === 'completion' && p.positionals.length === 0) {
      lines.push(...prefixed(['bash', 'zsh', 'fish']));
    }
  }
  lines.push(`:${NO_FILE_COMP}`);
  return lines;
}
