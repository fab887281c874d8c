/**
 * What runs decides, not the templates: a Helm release left half way through an upgrade (every
 * Deployment paused, the chart upgraded to 2.4.6, only mixcoord resumed and rolled) has every
 * template on 2.4.6 while most pods run 2.4.5. status shows it mixed, health warns, and neither
 * `upgrade --restart` nor rolling-update takes the templates' version for what runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertTestbed, CHART, deleteNamespace, helm, installHelmRelease, kubectl, newNamespace, runPlugin } from './harness.js';

const REL = 'half';

describe('a release whose pods run two versions', () => {
  let ns: string;

  beforeAll(async () => {
    assertTestbed();
    ns = await newNamespace('mixed');
    await installHelmRelease(ns, REL);
    const names = (await kubectl(['get', 'deployments', '-n', ns, '-l', `app.kubernetes.io/instance=${REL},app.kubernetes.io/name=milvus`, '-o', 'name'])).split('\n').filter(Boolean);
    // As the upgrade's helm hop does: pause everything, change the chart, then resume one component.
    for (const d of names) await kubectl(['rollout', 'pause', d, '-n', ns]);
    await helm(['upgrade', REL, CHART, '-n', ns, '--reuse-values', '--set', 'image.all.tag=v2.4.6']);
    await kubectl(['rollout', 'resume', `deployment/${REL}-milvus-mixcoord`, '-n', ns]);
    await kubectl(['rollout', 'status', `deployment/${REL}-milvus-mixcoord`, '-n', ns, '--timeout', '180s']);
  }, 300_000);
  afterAll(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('status: the release is mixed, its version the lowest that runs, paused rollouts shown', async () => {
    const r = await runPlugin(['status', REL, '-n', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.running).toBe('mixed');
    expect(s.milvusVersion).toBe('2.4.5');
    expect(s.runningVersions.map((v: { version: string }) => v.version)).toEqual(['2.4.5', '2.4.6']);
    expect(s.runningVersions[1].components).toEqual(['mixcoord']);
    const proxy = s.components.find((c: { component: string }) => c.component === 'proxy');
    expect(proxy).toMatchObject({ image: 'milvusdb/milvus:v2.4.6', running: ['milvusdb/milvus:v2.4.5'], rollout: 'paused', paused: true });
    expect(s.components.find((c: { component: string }) => c.component === 'mixcoord')).toMatchObject({ running: ['milvusdb/milvus:v2.4.6'], rollout: 'complete' });
    const text = await runPlugin(['status', REL, '-n', ns]);
    expect(text.stdout).toMatch(/^Milvus version: +mixed \(2\.4\.5: proxy, .*; 2\.4\.6: mixcoord\): an update is in progress or was left half done$/m);
    expect(text.stdout).toMatch(new RegExp(`^proxy +${REL}-milvus-proxy .* milvusdb/milvus:v2\\.4\\.6 \\(pods: milvusdb/milvus:v2\\.4\\.5; paused\\)$`, 'm'));
  });

  it('health: the versions check reads the pods', async () => {
    const r = await runPlugin(['health', REL, '-n', ns, '-o', 'json'], { timeoutMs: 120_000 });
    const versions = JSON.parse(r.stdout).checks.find((c: { check: string }) => c.check === 'versions');
    expect(versions.status).toBe('warning');
    expect(versions.detail).toContain('milvusdb/milvus:v2.4.6 (mixcoord)');
    expect(versions.detail).toContain(`deployment/${REL}-milvus-proxy: template milvusdb/milvus:v2.4.6, pods run milvusdb/milvus:v2.4.5, rollout paused`);
  }, 150_000);

  it('upgrade --restart on the half-upgraded release refuses (exit 7) instead of "nothing to do"', async () => {
    const r = await runPlugin(['upgrade', REL, '-n', ns, '--to', '2.4.6', '--restart', '-y']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain(`release "${REL}" runs different versions (proxy 2.4.5, mixcoord 2.4.6`);
    expect(r.stderr).toContain('rollout paused');
    expect(r.stderr).not.toContain('nothing to do');
  });

  it('rolling-update refuses the paused rollouts it could not move', async () => {
    const r = await runPlugin(['rolling-update', REL, '-n', ns, '--image', 'milvusdb/milvus:v2.4.6', '--dry-run', '--skip-meta-backup']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/deployment\/half-milvus-proxy.* (is|are) paused/);
  });
});
