/** A Kube client pointed at an HTTP API fixture of a unit test (token auth, namespace "ns"). */
import { KubeConfig } from '@kubernetes/client-node';
import { Kube } from '../../src/kube/client.js';

export function kubeForFixture(url: string): Kube {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fixture', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'fixture-token' }],
    contexts: [{ name: 'c', cluster: 'fixture', user: 'u', namespace: 'ns' }],
    currentContext: 'c',
  });
  return new Kube({ kc, contextName: 'c', namespace: 'ns', source: 'fixture', namespaceExplicit: true });
}
