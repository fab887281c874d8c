/**
 * Which helm revision a decision rests on: helm's LATEST revision says whether the release may be
 * touched (a pending one is refused, naming the rollback), and the values and manifest saved and
 * reinstalled are the last DEPLOYED revision's, asked for by number. status shows both.
 */
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import { deployedRevision, parseHelmHistory, type HelmRevisions } from '../../src/helm/helm.js';
import { installedByHelm } from '../../src/status/report.js';

/** `helm history -o json` as helm 3.14 prints it. */
const history = (rows: Array<[number, string]>) =>
  JSON.stringify(rows.map(([revision, status]) => ({ revision, updated: '2026-12-01T10:00:00Z', status, chart: 'milvus-4.2.8', app_version: '2.4.5', description: status })));

function refusal(revs: HelmRevisions): CliError | undefined {
  try {
    deployedRevision('rel', 'ns', revs);
    return undefined;
  } catch (e) {
    return e as CliError;
  }
}

describe('helm history: latest and last deployed revision', () => {
  it('a failed upgrade over a deployed revision: latest 2 failed, deployed 1', () => {
    expect(parseHelmHistory(history([[1, 'deployed'], [2, 'failed']]))).toEqual({ latest: { revision: 2, status: 'failed' }, lastDeployed: 1 });
  });
  it('superseded revisions are not deployed ones', () => {
    expect(parseHelmHistory(history([[3, 'deployed'], [1, 'superseded'], [2, 'superseded']]))).toEqual({ latest: { revision: 3, status: 'deployed' }, lastDeployed: 3 });
  });
  it('no revision: nothing', () => {
    expect(parseHelmHistory('[]')).toBeUndefined();
  });
});

describe('the revision whose values are saved and reinstalled', () => {
  it('a failed latest revision: the deployed one, by number', () => {
    expect(deployedRevision('rel', 'ns', { latest: { revision: 2, status: 'failed' }, lastDeployed: 1 })).toBe(1);
  });
  it('deployed and latest the same', () => {
    expect(deployedRevision('rel', 'ns', { latest: { revision: 4, status: 'deployed' }, lastDeployed: 4 })).toBe(4);
  });
  for (const status of ['pending-upgrade', 'pending-install', 'pending-rollback']) {
    it(`a ${status} latest revision is refused (exit 7), naming it and the rollback to the deployed one`, () => {
      const e = refusal({ latest: { revision: 3, status }, lastDeployed: 2 });
      expect(e?.exitCode).toBe(ExitCode.PRECONDITION);
      expect(e?.message).toContain(`revision 3 is ${status}`);
      expect(e?.hint).toContain('helm rollback rel 2 -n ns');
    });
  }
  it('no deployed revision at all is refused (exit 7)', () => {
    const e = refusal({ latest: { revision: 1, status: 'failed' }, lastDeployed: undefined });
    expect(e?.exitCode).toBe(ExitCode.PRECONDITION);
    expect(e?.message).toContain('has no deployed revision');
  });
});

describe('status: the helm revision line', () => {
  const info = { chartName: 'milvus', chartVersion: '4.2.8', appVersion: '2.4.5', userValues: {}, computedValues: {}, secretName: 'sh.helm.release.v1.r.v2', fullname: 'r-milvus' };
  it('names the latest revision and, when it is another, the last deployed one', () => {
    expect(installedByHelm({ ...info, revision: 2, status: 'failed', lastDeployedRevision: 1 })).toBe('Helm (chart milvus-4.2.8, revision 2, failed (last deployed: 1))');
  });
  it('a deployed latest revision: just it', () => {
    expect(installedByHelm({ ...info, revision: 1, status: 'deployed' })).toBe('Helm (chart milvus-4.2.8, revision 1, deployed)');
  });
});
