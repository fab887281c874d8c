/**
 * Turns what @kubernetes/client-node throws into one-line CliErrors with kubectl's wording and
 * the project's exit codes: 403 says which verb and resource RBAC denied, network failures say
 * which server could not be reached.
 */
import { ApiException } from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';

export interface KubeStatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; group?: string };
}

export function statusBody(e: ApiException<unknown>): KubeStatusBody {
  const body = e.body;
  if (body && typeof body === 'object') return body as KubeStatusBody;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as KubeStatusBody;
    } catch {
      return { message: body.trim() || undefined };
    }
  }
  return {};
}

export function isApiStatus(e: unknown, code: number): boolean {
  return e instanceof ApiException && e.code === code;
}

export const isNotFound = (e: unknown) => isApiStatus(e, 404);
export const isConflict = (e: unknown) => isApiStatus(e, 409);
export const isGone = (e: unknown) => isApiStatus(e, 410);

/** Network-level cause of a failed fetch (ECONNREFUSED, ENOTFOUND, certificate errors...). */
function networkCause(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    const c = cur as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof c.code === 'string' && /^(E[A-Z_]+|UND_ERR_[A-Z_]+|CERT_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_[A-Z_]+)$/.test(c.code)) {
      return typeof c.message === 'string' && c.message ? c.message : c.code;
    }
    if (Array.isArray(c.errors) && c.errors.length > 0) cur = c.errors[0];
    else cur = c.cause;
  }
  return undefined;
}

export interface RequestDescription {
  /** e.g. "list", "get", "patch", "delete". */
  verb: string;
  /** e.g. "deployments.apps", "persistentvolumeclaims", "milvuses.milvus.io". */
  resource: string;
  namespace?: string | undefined;
  name?: string | undefined;
}

export function toCliError(e: unknown, req: RequestDescription | undefined, server: string | undefined): unknown {
  if (e instanceof CliError) return e;
  if (e instanceof ApiException) {
    const st = statusBody(e);
    const msg = st.message ?? `the server answered HTTP ${e.code}`;
    switch (e.code) {
      case 401:
        return new CliError('You must be logged in to the server (Unauthorized)', ExitCode.FORBIDDEN, undefined, { cause: e });
      case 403:
        return new CliError(msg, ExitCode.FORBIDDEN, req ? `the command needs "${req.verb}" on "${req.resource}"` : undefined, { cause: e });
      case 404:
        return new CliError(msg, ExitCode.NOT_FOUND, undefined, { cause: e });
      default: {
        const what = req ? ` (${req.verb} ${req.resource}${req.name ? ` ${req.name}` : ''})` : '';
        return new CliError(`${msg}${what}`, e.code >= 500 ? ExitCode.UNREACHABLE : ExitCode.FAILED, undefined, { cause: e });
      }
    }
  }
  let net = networkCause(e);
  if (!net && e instanceof TypeError && e.message === 'fetch failed') {
    const cause = (e as { cause?: { message?: string } }).cause;
    net = cause?.message ?? 'the request could not be sent';
  }
  if (net) {
    return new CliError(`unable to connect to the server${server ? ` at ${server}` : ''}: ${net}`, ExitCode.UNREACHABLE, undefined, { cause: e });
  }
  if (e instanceof Error && /exec|credential|token/i.test(e.message) && /fail|error|refresh/i.test(e.message)) {
    return new CliError(`getting credentials: ${e.message}`, ExitCode.CONFIG, undefined, { cause: e });
  }
  return e;
}
