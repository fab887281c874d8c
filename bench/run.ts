/** `npm run bench`: one `name value` line per measurement on stdout; notes on stderr. */
import { existsSync } from 'node:fs';
import { KUBECONFIG } from '../test/e2e/harness.js';
import { measureArchiveMb } from './archive.js';
import { measureStartup } from './startup.js';

const s = measureStartup();
process.stdout.write(`startup_ms ${s.oursMs.toFixed(1)}\n`);
process.stdout.write(`kubectl_version_client_ms ${s.kubectlMs.toFixed(1)}\n`);
process.stdout.write(`startup_ratio ${s.ratio.toFixed(2)}\n`);
process.stdout.write(`cluster_command_startup_ms ${s.clusterCommandMs.toFixed(1)}\n`);
process.stdout.write(`archive_mb_linux_amd64 ${measureArchiveMb().toFixed(1)}\n`);

if (existsSync(KUBECONFIG)) {
  const { measureRollingUpdateOverhead } = await import('./rolling-update.js');
  process.stdout.write(`rolling_update_overhead_s ${(await measureRollingUpdateOverhead()).toFixed(2)}\n`);
  const { measureReport, measureBackupMeta } = await import('./companions.js');
  process.stdout.write(`report_s ${(await measureReport()).toFixed(2)}\n`);
  const meta = await measureBackupMeta();
  process.stdout.write(`backup_meta_s ${meta.seconds.toFixed(2)}\nbackup_meta_peak_mb ${meta.peakMb.toFixed(0)}\n`);
  const { measureFlushOverheadReal } = await import('./flush-real.js');
  const f = await measureFlushOverheadReal();
  process.stderr.write(`flush on real Milvus 2.3.5: plugin ${f.pluginS.toFixed(2)}s, Milvus's own flush ${f.milvusS.toFixed(2)}s (medians)\n`);
  process.stdout.write(`flush_overhead_real_s ${f.overheadS.toFixed(2)}\n`);
} else {
  process.stderr.write('rolling_update_overhead_s skipped: the test bed is not up (npm run testbed -- ensure)\n');
  process.stderr.write('flush_overhead_real_s skipped: the test bed is not up (npm run testbed -- ensure)\n');
}

if (existsSync(KUBECONFIG)) {
  const { measureOperatorRollingUpdateOverhead } = await import('./rolling-update-operator.js');
  const m = await measureOperatorRollingUpdateOverhead();
  process.stderr.write(`rolling-update on the real Milvus Operator: ${m.wallS.toFixed(1)} s wall, operator's own rollout ${m.operatorS.toFixed(1)} s, ${m.components} components\n`);
  process.stdout.write(`rolling_update_operator_overhead_s ${m.perComponentS.toFixed(2)}\n`);
} else {
  process.stderr.write('rolling_update_operator_overhead_s skipped: the test bed is not up (npm run testbed -- ensure)\n');
}
