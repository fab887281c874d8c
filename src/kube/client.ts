/**
 * The one handle on the cluster every command uses: typed API clients for the current context,
 * paginated lists with server-side label selectors, kubectl-worded errors, and an optional
 * per-request timeout (--request-timeout).
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  PatchStrategy,
  ServerConfiguration,
  StorageV1Api,
  VersionApi,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { CliError, ExitCode } from '../errors.js';
import { toCliError, type RequestDescription } from './errors.js';
import { directGet, directGetApplies } from './direct-get.js';
import type { LoadedConfig } from './kubeconfig.js';

export interface ListMeta {
  _continue?: string;
  resourceVersion?: string;
}
export interface ListPage<T> {
  items: T[];
  metadata?: ListMeta;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the server returns a continue token for the rest. */
  limit?: number;
}

export const MILVUS_GROUP = 'milvus.io';
export const MILVUS_VERSION = 'v1beta1';

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const strategicMergePatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
export const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

export class Kube {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly storage: StorageV1Api;
  readonly custom: CustomObjectsApi;
  readonly versionApi: VersionApi;
  readonly kc: KubeConfig;
  readonly namespace: string;
  readonly contextName: string;
  readonly server: string | undefined;
  readonly namespaceExplicit: boolean;

  constructor(
    loaded: LoadedConfig,
    /** Milliseconds; 0 waits forever, like kubectl's default --request-timeout. */
    readonly requestTimeoutMs = 0,
  ) {
    this.kc = loaded.kc;
    this.namespace = loaded.namespace;
    this.contextName = loaded.contextName;
    this.namespaceExplicit = loaded.namespaceExplicit;
    this.server = loaded.kc.getCurrentCluster()?.server;
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.apps = this.kc.makeApiClient(AppsV1Api);
    this.storage = this.kc.makeApiClient(StorageV1Api);
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
    this.versionApi = this.kc.makeApiClient(VersionApi);
  }

  /** Runs one API request with kubectl-worded errors and the request timeout. */
  async call<T>(req: RequestDescription, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.requestTimeoutMs <= 0) return await fn();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new CliError(
                `the server did not answer within --request-timeout (${req.verb} ${req.resource})`,
                ExitCode.UNREACHABLE,
              ),
            ),
          this.requestTimeoutMs,
        );
      });
      try {
        return await Promise.race([fn(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      throw toCliError(e, req, this.server);
    }
  }

  /**
   * One read through `call` that answers undefined only when the API server says 404; any other
   * failure is thrown ("could not read" is never "it is not there").
   */
  async getIfExists<T>(req: RequestDescription, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.call(req, fn);
    } catch (e) {
      if (e instanceof CliError && e.exitCode === ExitCode.NOT_FOUND) return undefined;
      throw e;
    }
  }

  /**
   * Lists every page of a collection: `limit`/`continue` pagination, selectors evaluated by the
   * server. An expired continue token (410 Gone) restarts the list once.
   */
  async listAll<T>(
    req: RequestDescription,
    page: (opts: { labelSelector?: string; fieldSelector?: string; limit: number; _continue?: string }) => Promise<ListPage<T>>,
    opts: ListOptions = {},
  ): Promise<T[]> {
    let items: T[] = [];
    await this.eachPage(req, page, opts, (p, first) => {
      if (first) items = [];
      items.push(...p);
    });
    return items;
  }

  /**
   * listAll without holding the whole collection: `onPage` sees each page as it arrives (`first`
   * is true for the first page of an attempt: after a 410 Gone the list restarts once from the
   * beginning, and what was kept of the failed attempt must be dropped).
   */
  async eachPage<T>(
    req: RequestDescription,
    page: (opts: { labelSelector?: string; fieldSelector?: string; limit: number; _continue?: string }) => Promise<ListPage<T>>,
    opts: ListOptions,
    onPage: (items: T[], first: boolean) => void,
  ): Promise<void> {
    const limit = opts.limit ?? 500;
    for (let attempt = 0; ; attempt++) {
      let cont: string | undefined;
      let first = true;
      try {
        do {
          const res = await this.call(req, () =>
            page({
              ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
              ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
              limit,
              ...(cont ? { _continue: cont } : {}),
            }),
          );
          onPage(res.items, first);
          first = false;
          cont = res.metadata?._continue || undefined;
        } while (cont);
        return;
      } catch (e) {
        if (attempt === 0 && e instanceof CliError && e.cause && (e.cause as { code?: number }).code === 410) continue;
        throw e;
      }
    }
  }

  /**
   * One page of a collection as the server sends it: the JSON parsed, without the client's typed
   * deserialisation (which walks and copies every field of every object, and turns timestamps
   * into Dates: here they stay the server's strings). For the big lists of a fleet. `path` is the
   * collection's, e.g. `/apis/apps/v1/deployments` or `/api/v1/namespaces/ns/pods`; the same
   * credentials as the typed clients (through directGet on an https server without a proxy, else
   * the typed clients' transport); an answer other than 2xx is the ApiException
   * the typed clients throw. With `accept` 'metadata' only the objects' metadata is asked for.
   */
  async rawListPage<T>(path: string, o: { labelSelector?: string; fieldSelector?: string; limit?: number; _continue?: string }, accept: 'object' | 'metadata' = 'object'): Promise<ListPage<T>> {
    const server = this.kc.getCurrentCluster()?.server;
    if (!server) throw new Error('No active cluster!');
    const req = new ServerConfiguration(server, {}).makeRequestContext(path, HttpMethod.GET);
    if (o.labelSelector) req.setQueryParam('labelSelector', o.labelSelector);
    if (o.fieldSelector) req.setQueryParam('fieldSelector', o.fieldSelector);
    if (o.limit) req.setQueryParam('limit', String(o.limit));
    if (o._continue) req.setQueryParam('continue', o._continue);
    // `metadata`: the server sends each object's metadata only (PartialObjectMetadataList), or
    // the whole objects when it cannot.
    const acceptHeader = accept === 'metadata' ? 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json' : 'application/json';
    req.setHeaderParam('Accept', acceptHeader);
    let status: number;
    let text: string;
    let headers: Record<string, string>;
    if (directGetApplies(this.kc)) {
      ({ status, body: text, headers } = await directGet(this.kc, new URL(req.getUrl()), { Accept: acceptHeader }));
    } else {
      await this.kc.applySecurityAuthentication(req);
      const res = await (this.rawHttp ??= new IsomorphicFetchHttpLibrary()).send(req).toPromise();
      ({ httpStatusCode: status, headers } = res);
      text = await res.body.text();
    }
    if (status < 200 || status > 299) throw new ApiException(status, status === 401 ? 'Unauthorized' : 'Unknown API Status Code!', text, headers);
    const list = JSON.parse(text) as { items?: T[] | null; metadata?: { continue?: string; resourceVersion?: string } };
    return { items: list.items ?? [], metadata: { _continue: list.metadata?.continue, resourceVersion: list.metadata?.resourceVersion } };
  }

  private rawHttp: IsomorphicFetchHttpLibrary | undefined;

  /** The API server's version (gitVersion), or undefined when it cannot be asked. */
  async serverVersion(): Promise<string | undefined> {
    try {
      const v = await this.call({ verb: 'get', resource: 'version' }, () => this.versionApi.getCode());
      return v.gitVersion;
    } catch {
      return undefined;
    }
  }
}
