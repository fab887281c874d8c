// Builds dist/kubectl-milvus: one self-contained executable (Node single-executable application).
// 1. esbuild bundles src/main.ts into the SEA's main script, leaving out every module the
//    sources load with a dynamic import() (the Kubernetes client, the procedures): those go into a
//    second bundle, embedded as a SEA asset and compiled only when a command first needs one of
//    them. --help, usage errors and `version --client` so never parse the 2.5 MiB of client code;
// 2. the second bundle is compiled and run once here to produce its V8 code cache (an asset too);
// 3. the running Node (the project's pinned runtime) turns the main script into a SEA blob with a
//    code cache; a copy of that same Node binary, stripped, gets the blob injected with postject.
// Blob and code caches must come from the exact Node they run in, so this refuses other runtimes.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
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

const common = {
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
};

// Every dynamically imported module becomes a key of the lazy bundle's exports.
const lazy = new Map();
const lazySplit = {
  name: 'lazy-split',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.kind !== 'dynamic-import' || args.pluginData?.lazySplit) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { lazySplit: true } });
      if (r.errors.length > 0) return { errors: r.errors };
      if (!lazy.has(r.path)) lazy.set(r.path, `m${lazy.size}`);
      return { path: r.path, namespace: 'lazy' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      contents: `module.exports = __kmLazy()[${JSON.stringify(lazy.get(args.path))}];`,
      loader: 'js',
    }));
  },
};
const LAZY_NAME = 'kubectl-milvus-lazy.cjs';
// Runs in the executable: compiles the embedded lazy bundle once, with its code cache when V8
// accepts it (it does when the cache came from the same Node with the same flags).
const loader = `var __kmLazyExports;
function __kmLazy() {
  if (!__kmLazyExports) {
    const sea = require('node:sea');
    let cachedData;
    try { cachedData = new Uint8Array(sea.getAsset('lazy.cache')); } catch {}
    const script = new (require('node:vm').Script)(sea.getAsset('lazy.cjs', 'utf8'), { filename: ${JSON.stringify(LAZY_NAME)}, cachedData });
    const module = { exports: {} };
    script.runInThisContext()(module.exports, require, module);
    __kmLazyExports = module.exports.default;
  }
  return __kmLazyExports;
}`;

log('bundling src/main.ts with esbuild (main script, without the lazily imported modules)');
const bundle = join(dist, 'kubectl-milvus.cjs');
const main = await build({ ...common, entryPoints: [join(root, 'src/main.ts')], outfile: bundle, plugins: [lazySplit], banner: { js: loader }, metafile: true });
// Start-up depends on this: a static import of a heavy module would pull it into the main script.
const heavy = Object.keys(main.metafile.inputs).filter((f) => /node_modules\/(@kubernetes|openid-client|ws|jose|execa)\//.test(f) || /^src\/(kube|release|procedure|helm)\//.test(f));
if (heavy.length > 0) {
  console.error(`error: the main script statically imports modules that must load lazily: ${heavy.slice(0, 5).join(', ')}`);
  process.exit(1);
}

log(`bundling the ${lazy.size} lazily imported modules`);
const lazyBundle = join(dist, 'lazy.cjs');
const entry = [...lazy].map(([path, key]) => `import * as ${key} from ${JSON.stringify(path)};`).join('\n');
await build({
  ...common,
  stdin: { contents: `${entry}\nexport default { ${[...lazy.values()].join(', ')} };\n`, resolveDir: root, loader: 'ts', sourcefile: 'lazy-entry.ts' },
  outfile: lazyBundle,
});
const wrapped = `(function (exports, require, module) {${readFileSync(lazyBundle, 'utf8')}\n})`;
writeFileSync(lazyBundle, wrapped);
// Compile and evaluate once (the modules only define things at load) so the cache also holds the
// functions that run while the modules load.
const script = new Script(wrapped, { filename: LAZY_NAME });
const probe = { exports: {} };
script.runInThisContext()(probe.exports, createRequire(import.meta.url), probe);
if (Object.keys(probe.exports.default ?? {}).length !== lazy.size) throw new Error('the lazy bundle does not export every module');
const lazyCache = join(dist, 'lazy.cache');
writeFileSync(lazyCache, script.createCachedData());

log(`making the SEA blob with Node ${process.version}`);
const seaConfig = join(dist, 'sea-config.json');
const blob = join(dist, 'sea.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    useSnapshot: false,
    assets: { 'lazy.cjs': lazyBundle, 'lazy.cache': lazyCache },
  }),
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
for (const f of [seaConfig, blob, bundle, lazyBundle, lazyCache]) rmSync(f);
const mb = (statSync(exe).size / 1024 / 1024).toFixed(1);
log(`dist/kubectl-milvus (${mb} MiB) built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
