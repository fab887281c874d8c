/** An API fixture that stores Secrets in namespace "ns" as kube-apiserver does (create, get, update with resourceVersion), and a context whose Kube reaches it. */
export async function secretsApi() {
  const { createServer } = await import('node:http');
  const { kubeForFixture } = await import('./fixture-kube.js');
  const { testContext } = await import('./test-context.js');
  const secrets = new Map<string, { metadata: Record<string, unknown>; data: Record<string, string> }>();
  let version = 1;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      const name = /\/api\/v1\/namespaces\/ns\/secrets\/?([^?]*)/.exec(req.url ?? '')?.[1] ?? '';
      const send = (code: number, doc: unknown) => ((res.statusCode = code), res.end(JSON.stringify(doc)));
      const status = (code: number, reason: string) => send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: reason });
      if (req.method === 'GET') return secrets.has(name) ? send(200, { kind: 'Secret', apiVersion: 'v1', ...secrets.get(name) }) : status(404, 'NotFound');
      const doc = JSON.parse(body) as { metadata: Record<string, unknown>; stringData?: Record<string, string> };
      const stored = { metadata: { ...doc.metadata, resourceVersion: String(++version) }, data: Object.fromEntries(Object.entries(doc.stringData ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
      const n = String(doc.metadata.name);
      if (req.method === 'POST') {
        if (secrets.has(n)) return status(409, 'AlreadyExists');
      } else if (req.method === 'PUT') {
        if (!secrets.has(n)) return status(404, 'NotFound');
        if (doc.metadata.resourceVersion !== secrets.get(n)!.metadata.resourceVersion) return status(409, 'Conflict');
      } else return status(405, 'MethodNotAllowed');
      secrets.set(n, stored);
      send(200, { kind: 'Secret', apiVersion: 'v1', ...stored });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const { ctx } = testContext({ kube: kubeForFixture(`http://127.0.0.1:${port}`) });
  const keys = (name: string) => Object.keys(secrets.get(name)?.data ?? {}).sort();
  const value = (name: string, key: string) => Buffer.from(secrets.get(name)!.data[key]!, 'base64').toString('utf8');
  return { ctx, keys, value, close: () => server.close() };
}
