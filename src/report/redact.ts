/**
 * Redaction for the support bundle. `hidden` (default): Secrets keep their keys, every value
 * becomes "<redacted>"; password-like settings anywhere (Helm values, the Milvus resource,
 * configuration files inside ConfigMaps, container env) are replaced the same way. `off`: Secrets
 * are left out entirely, settings redacted as with hidden. `all`: nothing is redacted.
 * Every value redacted is also remembered, with its base64 form, and scrubbed from the rest of
 * the bundle (logs, manifests, annotations) before it is written: values of password-like keys
 * from 4 characters on, other Secret values (a username, a certificate) from 12, so that a short
 * common word such as "milvus" is not erased from every name in the bundle.
 */
import yaml from 'js-yaml';

export const SECRETS_MODES = ['hidden', 'off', 'all'] as const;
export type SecretsMode = (typeof SECRETS_MODES)[number];
export const REDACTED = '<redacted>';

/** Setting names whose values are credentials: password, secretKey, accessKey, token, ... */
export const SENSITIVE_KEY = /pass(word|wd|phrase)?$|passw|secret|token|credential|private.?key|access.?key|api.?key|^auth(orization)?$|^key$|cert(ificate)?.?key|\.key$|jwt|sasl/i;

const MIN_SCRUB = 4;
const MIN_SCRUB_OTHER = 12;

export class Redactor {
  readonly found = new Set<string>();
  constructor(readonly mode: SecretsMode) {}

  get active(): boolean {
    return this.mode !== 'all';
  }

  /** Remembers a value to scrub; `sensitive`: it was held under a password-like key. */
  remember(value: string, sensitive = true): void {
    if (value.length >= (sensitive ? MIN_SCRUB : MIN_SCRUB_OTHER)) this.found.add(value);
  }

  /** A deep copy with credentials replaced: keys matching SENSITIVE_KEY, env-style {name, value} pairs, YAML/JSON inside strings. */
  value<T>(v: T): T {
    if (!this.active) return v;
    return this.walk(v, undefined) as T;
  }

  private walk(v: unknown, key: string | undefined): unknown {
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.map((x) => this.walk(x, undefined));
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const namedSecret = typeof o.name === 'string' && SENSITIVE_KEY.test(o.name);
      for (const [k, x] of Object.entries(o)) {
        if (namedSecret && k === 'value' && (typeof x === 'string' || typeof x === 'number')) out[k] = this.hide(String(x));
        else out[k] = this.walk(x, k);
      }
      return out;
    }
    if (key !== undefined && SENSITIVE_KEY.test(key) && (typeof v === 'string' || typeof v === 'number') && String(v) !== '') return this.hide(String(v));
    if (typeof v === 'string' && v.includes('\n') && v.includes(':')) return this.embedded(v);
    return v;
  }

  private hide(s: string): string {
    if (s === REDACTED) return s;
    this.remember(s);
    return REDACTED;
  }

  /** A configuration file held in a string (ConfigMap data, values files): redacted as a document. */
  private embedded(s: string): string {
    let doc: unknown;
    try {
      doc = yaml.load(s);
    } catch {
      return s;
    }
    if (!doc || typeof doc !== 'object') return s;
    const before = this.found.size;
    const redacted = this.walk(doc, undefined);
    if (this.found.size === before && JSON.stringify(redacted) === JSON.stringify(doc)) return s;
    return yaml.dump(redacted, { lineWidth: -1, noRefs: true });
  }

  /** A Kubernetes Secret: keys kept, values hidden (hidden), left out (off: undefined), or as is (all). */
  secret<T extends { data?: Record<string, string>; stringData?: Record<string, string>; metadata?: { annotations?: Record<string, string> } }>(s: T): T | undefined {
    for (const [k, v] of Object.entries(s.data ?? {})) this.remember(Buffer.from(v, 'base64').toString('utf8'), SENSITIVE_KEY.test(k));
    for (const [k, v] of Object.entries(s.stringData ?? {})) this.remember(v, SENSITIVE_KEY.test(k));
    if (this.mode === 'all') return s;
    if (this.mode === 'off') return undefined;
    const copy = structuredClone(s);
    if (copy.data) copy.data = Object.fromEntries(Object.keys(copy.data).map((k) => [k, REDACTED]));
    if (copy.stringData) copy.stringData = Object.fromEntries(Object.keys(copy.stringData).map((k) => [k, REDACTED]));
    const ann = copy.metadata?.annotations;
    if (ann?.['kubectl.kubernetes.io/last-applied-configuration']) ann['kubectl.kubernetes.io/last-applied-configuration'] = REDACTED;
    return copy;
  }

  /** Replaces every remembered value (and its base64 form) in a text. */
  scrub(text: string): string {
    if (!this.active || this.found.size === 0) return text;
    const re = this.pattern();
    return re ? text.replace(re, REDACTED) : text;
  }

  private cached: { size: number; re: RegExp | undefined } | undefined;
  private pattern(): RegExp | undefined {
    if (this.cached?.size === this.found.size) return this.cached.re;
    const all = new Set<string>();
    for (const v of this.found) {
      all.add(v);
      const b = Buffer.from(v, 'utf8').toString('base64');
      // Unpadded too: inside a longer base64 text the padding is absent.
      all.add(b);
      all.add(b.replace(/=+$/, ''));
    }
    const parts = [...all].filter((v) => v.length >= MIN_SCRUB).sort((a, b) => b.length - a.length).map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const re = parts.length ? new RegExp(parts.join('|'), 'g') : undefined;
    this.cached = { size: this.found.size, re };
    return re;
  }
}

/** Redacts a multi-document YAML text (a Helm manifest); Secrets in it are treated as Secrets. */
export function redactManifest(r: Redactor, manifest: string): string {
  if (!r.active) return manifest;
  const docs = yaml.loadAll(manifest);
  return docs
    .filter((d) => d !== null && d !== undefined)
    .map((d) => {
      const o = d as { kind?: string };
      const red = o.kind === 'Secret' ? r.secret(o as Parameters<Redactor['secret']>[0]) : r.value(o);
      return red === undefined ? `# Secret left out (--secrets off)\n` : yaml.dump(red, { lineWidth: -1, noRefs: true });
    })
    .join('---\n');
}
