/** `status` warns of the chart >= 5.0.27 trap: an unpinned image tag follows the chart's default, Milvus 3.0, on a plain helm upgrade. */
import { describe, expect, it } from 'vitest';
import { assessRisks, componentStatuses } from '../../src/status/report.js';
import type { Release } from '../../src/release/types.js';
import { fixtureRelease } from './release-fixture.js';

function onChart(chartVersion: string, userValues: Record<string, unknown>, version = '2.6.22'): Release {
  const r = fixtureRelease((['mixcoord', 'streamingnode', 'proxy'] as const).map((component) => ({ component, template: version })));
  return { ...r, mq: 'woodpecker', helm: { ...r.helm!, chartVersion, userValues, computedValues: { woodpecker: { enabled: true } } } };
}
const risks = (r: Release) => assessRisks(r, componentStatuses(r), []);

describe('the unpinned image tag on a chart whose default is Milvus 3.0', () => {
  it('chart 5.0.27 with image.all.tag only from the chart: a risk naming the tag to pin', () => {
    const found = risks(onChart('5.0.27', { streaming: { enabled: true } })).filter((x) => x.includes('defaults Milvus to 3.0'));
    expect(found).toEqual([
      'chart 5.0.27 defaults Milvus to 3.0 and image.all.tag is not pinned (Milvus 2.6.22 runs): a plain "helm upgrade" takes the release to the chart\'s Milvus 3.0 without a metadata snapshot, the only way back; pin image.all.tag=v2.6.22 in the values, and reach a new version with "upgrade --to X.Y.Z"',
    ]);
    expect(risks(onChart('5.0.28', {}, '3.0.1')).find((x) => x.includes('defaults Milvus to 3.0'))).toContain("takes the release to the chart's default Milvus version");
  });

  it.each([
    ['a pinned tag', onChart('5.0.27', { image: { all: { tag: 'v2.6.22' } } })],
    ['a chart before 5.0.27', onChart('5.0.26', {})],
    ['chart 4', onChart('4.2.58', {})],
  ])('no risk for %s', (_t, r) => {
    expect(risks(r).some((x) => x.includes('defaults Milvus to 3.0'))).toBe(false);
  });
});
