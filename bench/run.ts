/** `npm run bench`: one `name value` line per measurement on stdout. */
import { measureStartup } from './startup.js';

const s = measureStartup();
process.stdout.write(`startup_ms ${s.oursMs.toFixed(1)}\n`);
process.stdout.write(`kubectl_version_client_ms ${s.kubectlMs.toFixed(1)}\n`);
process.stdout.write(`startup_ratio ${s.ratio.toFixed(2)}\n`);
