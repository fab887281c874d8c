/**
 * The Milvus user for gRPC calls when authentication is on (authorizationEnabled): from a Secret
 * named by --milvus-secret (keys username and password, or token), else from the environment
 * (MILVUS_USERNAME and MILVUS_PASSWORD, or MILVUS_TOKEN), else none. Values are never printed.
 */
import type { RunContext } from '../cli/context.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import type { MilvusCredentials } from '../milvus/grpc-databases.js';

/** --milvus-secret, checked before the cluster is asked anything (exit 2). */
export function validateMilvusSecret(secret: string | undefined): string | undefined {
  if (secret !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(secret)) throw usageError(`--milvus-secret: "${secret}" is not a valid Secret name`);
  return secret;
}

export async function milvusCredentials(ctx: RunContext, namespace: string, secret: string | undefined): Promise<MilvusCredentials | undefined> {
  if (validateMilvusSecret(secret) !== undefined) {
    const kube = ctx.kube();
    const data = (await kube.call({ verb: 'get', resource: 'secrets', namespace, name: secret }, () => kube.core.readNamespacedSecret({ name: secret!, namespace }))).data ?? {};
    const value = (k: string) => (data[k] !== undefined ? Buffer.from(data[k], 'base64').toString('utf8') : undefined);
    const token = value('token');
    const username = value('username');
    const password = value('password');
    if (token) return { token };
    if (username !== undefined && password !== undefined) return { username, password };
    throw new CliError(`Secret "${secret}" in namespace "${namespace}" has neither "token" nor "username" and "password"`, ExitCode.CONFIG);
  }
  const env = ctx.env;
  if (env.MILVUS_TOKEN) return { token: env.MILVUS_TOKEN };
  if (env.MILVUS_USERNAME && env.MILVUS_PASSWORD !== undefined) return { username: env.MILVUS_USERNAME, password: env.MILVUS_PASSWORD };
  return undefined;
}
