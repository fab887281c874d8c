// Builds dist/kubectl-milvus: one self-contained executable (Node single-executable application).
// 1. esbuild bundles src/main.ts and its dependencies into one CommonJS file;
// 2. the running Node (the project's pinned runtime) turns it into a SEA blob with a code cache;
// 3. a copy of that same Node binary, stripped, gets the blob injected with postject.
// The blob must come from the exact Node it is injected into, so this refuses other runtimes.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const log = (m) => process.stderr.write(`[build] ${m}\n`);
const started = Date.now();

if (process.versions.node !== pkg.engines.node) {
  console.error(`error: the executable embeds Node ${pkg.engines.node}, but the build runs on ${process.versions.node}; run it through npm after 'npm ci'`);
  process.exit(1);
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

log('bundling src/main.ts with esbuild');
const bundle = join(dist, 'kubectl-milvus.cjs');
await build({
  entryPoints: [join(root, 'src/main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  alias: {
    bufferutil: join(root, 'build/absent.cjs'),
    'utf-8-validate': join(root, 'build/absent.cjs'),
  },
  define: {
    __KM_VERSION__: JSON.stringify(pkg.version),
    __KM_COMMIT__: JSON.stringify(gitCommit()),
    __KM_BUILD_DATE__: JSON.stringify(new Date().toISOString()),
    // import.meta.url has no meaning in the CommonJS bundle; version-info.ts only uses it unbundled.
    'import.meta.url': '"file:///kubectl-milvus"',
  },
});

log(`making the SEA blob with Node ${process.version}`);
const seaConfig = join(dist, 'sea-config.json');
const blob = join(dist, 'sea.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, useSnapshot: false }),
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

const exe = join(dist, 'kubectl-milvus');
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
try {
  execFileSync('strip', [exe], { stdio: 'ignore' });
} catch {
  log('strip not available: the executable keeps its debug symbols');
}
log('injecting the blob with postject');
// postject warns about unnamed ELF note sections of the stripped binary; those are harmless.
execFileSync(
  process.execPath,
  [
    join(root, 'node_modules/postject/dist/cli.js'),
    exe,
    'NODE_SEA_BLOB',
    blob,
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
// kubectl (>= 1.26) asks kubectl_complete-milvus for completions; the same binary answers.
symlinkSync('kubectl-milvus', join(dist, 'kubectl_complete-milvus'));
for (const f of [seaConfig, blob, bundle]) rmSync(f);
const mb = (statSync(exe).size / 1024 / 1024).toFixed(1);
log(`dist/kubectl-milvus (${mb} MiB) built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
