/** Helpers for Helm-style nested values. */
export type Values = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's coalescing: user values override chart defaults key by key; maps merge, the rest replaces. */
export function mergeValues(defaults: Values, overrides: Values): Values {
  const out: Values = { ...defaults };
  for (const [k, v] of Object.entries(overrides)) {
    const d = out[k];
    if (v === null) delete out[k];
    else if (isPlainObject(d) && isPlainObject(v)) out[k] = mergeValues(d, v);
    else out[k] = v;
  }
  return out;
}

/** The value at a dotted path ("pulsar.enabled"), or undefined. */
export function getPath(values: Values | undefined, path: string): unknown {
  let cur: unknown = values;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Whether the user set this path explicitly (present in the user-supplied values). */
export function hasPath(values: Values | undefined, path: string): boolean {
  let cur: unknown = values;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur) || !(part in cur)) return false;
    cur = cur[part];
  }
  return true;
}

export function truthy(v: unknown): boolean {
  return v === true || v === 'true';
}
