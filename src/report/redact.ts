/**
 * Redaction for the support bundle. `hidden` (default): Secrets keep their keys, every value
 * becomes "<redacted>"; credential-bearing settings anywhere (Helm values, the Milvus resource,
 * configuration files inside ConfigMaps, container env) are replaced the same way. `off`: Secrets
 * are left out entirely, settings redacted as with hidden. `all`: nothing is redacted.
 *
 * A credential is found by its setting's name (password, secretKey, token, authParams, dsn, ...)
 * or by its shape wherever it stands: the password of a URL or DSN (`scheme://user:PASS@host`,
 * `user:PASS@tcp(...)`), `password=...` pairs of a connection string, PEM blocks. Usernames and
 * names of Secrets are not credentials.
 *
 * Every value redacted is also remembered, with its base64 form, and scrubbed from the rest of
 * the bundle before it is written — but only where it stands as a value: structured files are
 * scrubbed value by value (never a key, never an image name), free text (logs) only where the
 * value is not part of a longer word. Values of credential settings are remembered from 4
 * characters on, other Secret values (a certificate, a configuration file) from 12.
 */
import yaml from 'js-yaml';

export const SECRETS_MODES = ['hidden', 'off', 'all'] as const;
export type SecretsMode = (typeof SECRETS_MODES)[number];
export const REDACTED = '<redacted>';

/** Setting names whose values are credentials: password, secretKey, accessKey, token, authParams, dsn, ... */
export const SENSITIVE_KEY =
  /pass(word|wd|phrase)?$|passw|secret|token|credential|private.?key|access.?key|api.?key|^auth(orization)?$|auth.?params?$|auth.?data$|cert(ificate)?.?key|\.key$|jwt|dsn$|conn(ection)?.?str(ing)?$|connection.?url$/i;

/**
 * Setting names that match SENSITIVE_KEY but hold no credential: the name of a Secret or of a file
 * holding one (secretName, secretKeyRef, passwordFile), its kind (saslMechanisms, tokenType),
 * switches and durations.
 */
const NOT_SENSITIVE_KEY = /(name|names|ref|refs|file|path|dir|mechanisms?|type|plugin|provider|enabled|ttl|seconds|mode|policy|audience|issuer(url)?)$|^existing/i;

/** Usernames are not secrets (saslUsername, rootUser, user, username, login). */
const USERNAME_KEY = /user(name)?$|^login$/i;

/** Fields holding image references: never scrubbed (a password equal to a word of an image name would erase it). */
const IMAGE_KEY = /^image(id)?$/i;

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key) && !NOT_SENSITIVE_KEY.test(key) && !USERNAME_KEY.test(key);
}

const MIN_SCRUB = 4;
const MIN_SCRUB_OTHER = 12;

/** Characters that continue a word: a remembered value inside such a run is part of something else. */
const WORD = 'A-Za-z0-9_\\-';

const escape = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Credentials recognised by their shape inside any text. Each pattern's group 2 is the
 * credential; group 1 and 3 stay.
 */
const CREDENTIAL_SHAPES: RegExp[] = [
  // scheme://user:password@host
  /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:)([^\s@/'"]+)(@)/gi,
  // Go MySQL DSN: user:password@tcp(host:port)/db, @unix(...)
  /((?:^|[\s'"=])[^\s:/@'"=]+:)([^\s@'"]+)(@(?:tcp|unix|udp)\()/gi,
  // password=..., pwd=..., token=... in connection strings and query strings
  /((?:^|[\s;&?,'"])(?:password|passwd|pwd|secret|token|access_token|api_key|apikey)\s*=\s*)([^\s;&,'"]+)()/gi,
  // Pulsar token authentication: token:<jwt>
  /((?:^|[\s'"{,])token:)([^\s'",}]+)()/g,
];

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

export class Redactor {
  readonly found = new Set<string>();
  constructor(readonly mode: SecretsMode) {}

  get active(): boolean {
    return this.mode !== 'all';
  }

  /** Remembers a value to scrub; `sensitive`: it was held under a credential setting. */
  remember(value: string, sensitive = true): void {
    // A Secret written with `echo` ends in a newline its uses do not have.
    for (const v of new Set([value, value.trim()])) {
      if (v !== REDACTED && v.length >= (sensitive ? MIN_SCRUB : MIN_SCRUB_OTHER)) this.found.add(v);
    }
  }

  /** A deep copy with credentials replaced: credential settings, env-style {name, value} pairs, YAML/JSON inside strings, credential shapes. */
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
      const namedSecret = typeof o.name === 'string' && isSensitiveKey(o.name);
      for (const [k, x] of Object.entries(o)) {
        if (namedSecret && k === 'value' && (typeof x === 'string' || typeof x === 'number')) out[k] = this.hide(String(x));
        else out[k] = this.walk(x, k);
      }
      return out;
    }
    if (key !== undefined && isSensitiveKey(key) && (typeof v === 'string' || typeof v === 'number') && String(v) !== '') return this.hide(String(v));
    if (typeof v === 'string') {
      if (key !== undefined && IMAGE_KEY.test(key)) return v;
      const s = v.includes('\n') && v.includes(':') ? this.embedded(v) : v;
      return this.shapes(s);
    }
    return v;
  }

  private hide(s: string): string {
    if (s === REDACTED) return s;
    this.remember(s);
    this.rememberParts(s);
    return REDACTED;
  }

  /**
   * The credentials inside a hidden setting, so that they are scrubbed where they stand alone
   * (a log line with the bare token): Pulsar authParams as `token:<jwt>`, JSON, or `k1:v1,k2:v2`.
   */
  private rememberParts(s: string): void {
    const t = s.trim();
    const token = /^token:(.+)$/s.exec(t);
    if (token) return this.remember(token[1]!.trim());
    let doc: unknown;
    if (t.startsWith('{')) {
      try {
        doc = JSON.parse(t);
      } catch {
        return;
      }
    } else if (/^[^,:\s]+:[^,]+(,[^,:\s]+:[^,]+)+$/.test(t)) {
      doc = Object.fromEntries(t.split(',').map((p) => [p.slice(0, p.indexOf(':')), p.slice(p.indexOf(':') + 1)]));
    }
    if (doc && typeof doc === 'object') this.walk(doc, undefined);
  }

  /** Credentials recognised by their shape (URL or DSN passwords, key=value pairs, tokens, PEM blocks): replaced and remembered. */
  private shapes(s: string): string {
    let out = s.replace(PEM, (block) => {
      this.remember(block, false);
      return REDACTED;
    });
    for (const re of CREDENTIAL_SHAPES) {
      out = out.replace(re, (_m, a: string, secret: string, b: string) => {
        if (secret === REDACTED || secret.startsWith('$')) return `${a}${secret}${b}`;
        this.remember(secret);
        return `${a}${REDACTED}${b}`;
      });
    }
    return out;
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
    const learn = (k: string, v: string) => {
      if (USERNAME_KEY.test(k)) return;
      if (isSensitiveKey(k)) {
        this.remember(v);
        this.rememberParts(v);
        return;
      }
      this.remember(v, false);
      // A configuration file, a docker config (JSON) or a connection string kept in a Secret: its credentials too.
      let doc: unknown = v;
      if (v.trim().startsWith('{')) {
        try {
          doc = JSON.parse(v);
        } catch {
          doc = v;
        }
      }
      this.walk(doc, undefined);
    };
    for (const [k, v] of Object.entries(s.data ?? {})) learn(k, Buffer.from(v, 'base64').toString('utf8'));
    for (const [k, v] of Object.entries(s.stringData ?? {})) learn(k, v);
    if (this.mode === 'all') return s;
    if (this.mode === 'off') return undefined;
    const copy = structuredClone(s);
    if (copy.data) copy.data = Object.fromEntries(Object.keys(copy.data).map((k) => [k, REDACTED]));
    if (copy.stringData) copy.stringData = Object.fromEntries(Object.keys(copy.stringData).map((k) => [k, REDACTED]));
    const ann = copy.metadata?.annotations;
    if (ann?.['kubectl.kubernetes.io/last-applied-configuration']) ann['kubectl.kubernetes.io/last-applied-configuration'] = REDACTED;
    return copy;
  }

  /** Free text (a log): every remembered value where it is not part of a longer word, its base64 forms anywhere, and credential shapes. */
  scrub(text: string): string {
    if (!this.active) return text;
    const re = this.pattern();
    const out = re ? text.replace(re, REDACTED) : text;
    return this.shapes(out);
  }

  /** A structured document (objects, status, values): values scrubbed, keys and image references kept. */
  scrubDoc<T>(doc: T): T {
    if (!this.active) return doc;
    const go = (v: unknown, key: string | undefined): unknown => {
      if (Array.isArray(v)) return v.map((x) => go(x, key));
      if (v && typeof v === 'object' && !(v instanceof Date)) return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, go(x, k)]));
      if (typeof v === 'string' && !(key !== undefined && IMAGE_KEY.test(key))) return this.scrub(v);
      return v;
    };
    return go(doc, undefined) as T;
  }

  private cached: { size: number; re: RegExp | undefined } | undefined;
  private pattern(): RegExp | undefined {
    if (this.cached?.size === this.found.size) return this.cached.re;
    const plain = new Set<string>();
    const encoded = new Set<string>();
    for (const v of this.found) {
      plain.add(v);
      const b = Buffer.from(v, 'utf8').toString('base64');
      // Unpadded too: inside a longer base64 text the padding is absent.
      encoded.add(b);
      encoded.add(b.replace(/=+$/, ''));
    }
    const byLength = (vs: Iterable<string>) => [...vs].filter((v) => v.length >= MIN_SCRUB).sort((a, b) => b.length - a.length).map(escape);
    const words = byLength(plain);
    const b64 = byLength([...encoded].filter((e) => !plain.has(e)));
    const parts = [
      ...(words.length ? [`(?<![${WORD}])(?:${words.join('|')})(?![${WORD}])`] : []),
      ...(b64.length ? [`(?:${b64.join('|')})`] : []),
    ];
    const re = parts.length ? new RegExp(parts.join('|'), 'g') : undefined;
    this.cached = { size: this.found.size, re };
    return re;
  }
}

/** Redacts a multi-document YAML text (a Helm manifest) into documents; Secrets in it are treated as Secrets (undefined: left out). */
export function redactManifestDocs(r: Redactor, manifest: string): unknown[] {
  const docs = yaml.loadAll(manifest).filter((d) => d !== null && d !== undefined);
  if (!r.active) return docs;
  return docs.map((d) => {
    const o = d as { kind?: string };
    return o.kind === 'Secret' ? r.secret(o as Parameters<Redactor['secret']>[0]) : r.value(o);
  });
}

/** A list of manifest documents as one YAML text; a Secret left out is said where it was. */
export function dumpManifest(docs: unknown[]): string {
  return docs.map((d) => (d === undefined ? `# Secret left out (--secrets off)\n` : yaml.dump(d, { lineWidth: -1, noRefs: true }))).join('---\n');
}

/** Redacts a multi-document YAML text (a Helm manifest); Secrets in it are treated as Secrets. */
export function redactManifest(r: Redactor, manifest: string): string {
  if (!r.active) return manifest;
  return dumpManifest(redactManifestDocs(r, manifest));
}
