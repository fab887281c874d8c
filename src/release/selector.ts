/**
 * Label selectors evaluated here, as the API server evaluates them: a cluster read once (every
 * release's objects in one list) is then cut per release with the very selectors a per-release
 * read sends to the server (labels.ts). Supports what those selectors use and kubectl accepts:
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
 */
type Requirement =
  | { key: string; op: 'in'; values: string[] }
  | { key: string; op: 'notin'; values: string[] }
  | { key: string; op: 'exists' }
  | { key: string; op: '!exists' };

/** Splits at commas outside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseSelector(selector: string): Requirement[] {
  return terms(selector).map((t): Requirement => {
    let m = /^(\S+?)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t);
    if (m) return { key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()) };
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t);
    if (m) return m[2] === '!=' ? { key: m[1]!, op: 'notin', values: [m[3]!] } : { key: m[1]!, op: 'in', values: [m[3]!] };
    if (t.startsWith('!')) return { key: t.slice(1).trim(), op: '!exists' };
    if (/^\S+$/.test(t)) return { key: t, op: 'exists' };
    throw new Error(`unsupported label selector term "${t}"`);
  });
}

export function selectorMatches(selector: string | Requirement[], labels: Record<string, string> | undefined): boolean {
  const reqs = typeof selector === 'string' ? parseSelector(selector) : selector;
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
  });
}
