/**
 * The measurements of `npm run bench`, one step each: its name, its deadline on a busy 2-core
 * machine, whether it needs the test bed, and what it prints (`name value` lines).
 */
import { measureArchiveMb } from './archive.js';
import { measureStartup } from './startup.js';

export interface Measurement {
  name: string;
  deadlineMs: number;
  needsBed: boolean;
  /** Results as [name, value] pairs; notes go to stderr. */
  measure(): Promise<Array<[string, string]>>;
}

const MIN = 60_000;

export const MEASUREMENTS: Measurement[] = [
  {
    name: 'startup',
    deadlineMs: 5 * MIN,
    needsBed: false,
    async measure() {
      const s = measureStartup();
      return [
        ['startup_ms', s.oursMs.toFixed(1)],
        ['kubectl_version_client_ms', s.kubectlMs.toFixed(1)],
        ['startup_ratio', s.ratio.toFixed(2)],
        ['cluster_command_startup_ms', s.clusterCommandMs.toFixed(1)],
      ];
    },
  },
  {
    name: 'archive',
    deadlineMs: 10 * MIN,
    needsBed: false,
    async measure() {
      return [['archive_mb_linux_amd64', measureArchiveMb().toFixed(1)]];
    },
  },
  {
    name: 'rolling_update',
    deadlineMs: 10 * MIN,
    needsBed: true,
    async measure() {
      const { measureRollingUpdateOverhead } = await import('./rolling-update.js');
      return [['rolling_update_overhead_s', (await measureRollingUpdateOverhead()).toFixed(2)]];
    },
  },
  {
    name: 'report',
    deadlineMs: 10 * MIN,
    needsBed: true,
    async measure() {
      const { measureReport } = await import('./companions.js');
      return [['report_s', (await measureReport()).toFixed(2)]];
    },
  },
  {
    name: 'backup_meta',
    deadlineMs: 15 * MIN,
    needsBed: true,
    async measure() {
      const { measureBackupMeta } = await import('./companions.js');
      const m = await measureBackupMeta();
      return [
        ['backup_meta_s', m.seconds.toFixed(2)],
        ['backup_meta_peak_mb', m.peakMb.toFixed(0)],
      ];
    },
  },
  {
    name: 'flush_real',
    deadlineMs: 15 * MIN,
    needsBed: true,
    async measure() {
      const { measureFlushOverheadReal } = await import('./flush-real.js');
      const f = await measureFlushOverheadReal();
      process.stderr.write(`flush on real Milvus 2.3.5: plugin ${f.pluginS.toFixed(2)}s, Milvus's own flush ${f.milvusS.toFixed(2)}s (medians)\n`);
      return [['flush_overhead_real_s', f.overheadS.toFixed(2)]];
    },
  },
  {
    name: 'flush_1000_collections',
    deadlineMs: 5 * MIN,
    needsBed: false,
    async measure() {
      const { measureFlushManyCollections } = await import('./flush-many.js');
      const f = await measureFlushManyCollections();
      process.stderr.write(`flush of 1000 collections on the simulator (17 ms per answer): ${f.seconds.toFixed(2)} s; one poll at a time: ${f.sequentialS.toFixed(2)} s\n`);
      return [['flush_1000_collections_s', f.seconds.toFixed(2)]];
    },
  },
  {
    name: 'rolling_update_operator',
    deadlineMs: 20 * MIN,
    needsBed: true,
    async measure() {
      const { measureOperatorRollingUpdateOverhead } = await import('./rolling-update-operator.js');
      const m = await measureOperatorRollingUpdateOverhead();
      process.stderr.write(`rolling-update on the real Milvus Operator: ${m.wallS.toFixed(1)} s wall, operator's own rollout ${m.operatorS.toFixed(1)} s, ${m.components} components\n`);
      return [['rolling_update_operator_overhead_s', m.perComponentS.toFixed(2)]];
    },
  },
  {
    name: 'etcd_maintain',
    deadlineMs: 15 * MIN,
    needsBed: true,
    async measure() {
      const { measureEtcdMaintain } = await import('./etcd-maintain.js');
      const e = await measureEtcdMaintain();
      process.stderr.write(`etcd-maintain: dbSize ${e.dbBeforeMb.toFixed(0)} MB -> ${e.dbAfterMb.toFixed(0)} MB\n`);
      return [
        ['etcd_maintain_s', e.seconds.toFixed(2)],
        ['etcd_maintain_blocked_s', e.blockedS.toFixed(2)],
      ];
    },
  },
  {
    name: 'list',
    deadlineMs: 30 * MIN,
    needsBed: true,
    async measure() {
      const { measureList } = await import('./list.js');
      const m = await measureList();
      process.stderr.write(`list -A: ${m.releasesSeen} bench releases, ${m.apiRequests} requests for ${m.apiCalls} list calls; kubectl get deployments,statefulsets -A ${m.kubectlMs.toFixed(0)} ms\n`);
      return [
        ['list_500_ms', m.listMs.toFixed(0)],
        ['list_vs_kubectl_ratio', (m.listMs / m.kubectlMs).toFixed(2)],
        ['list_api_calls', String(m.apiCalls)],
        ['list_api_requests', String(m.apiRequests)],
        ['list_peak_mb', m.peakMb.toFixed(0)],
        ['list_three_contexts_s', m.threeContextsS.toFixed(2)],
        ['list_three_contexts_limit_s', m.threeContextsLimitS.toFixed(0)],
      ];
    },
  },
];
