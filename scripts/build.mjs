// Builds dist/kubectl-milvus: one self-contained executable (Node single-executable application)
// for this machine's platform, the one every test drives.
// 1. esbuild bundles src/main.ts into the SEA's main script, leaving out every module the
//    sources load with a dynamic import() (the Kubernetes client, the procedures, helm): those go
//    into a second bundle, embedded as a SEA asset and compiled only when a command first needs
//    one of them. --help, usage errors and `version --client` so never parse the 2.5 MiB of
//    client code;
// 2. the second bundle is compiled and run once here to produce its V8 code cache (an asset too);
// 3. scripts/sea.mjs makes the executable: the running Node (the project's pinned runtime) writes
//    the SEA blob with a code cache, a stripped copy of that same Node gets it injected.
// The bundles stay in dist/sea/: `npm run release` makes the other platforms' executables from them.
// Blob and code caches must come from the exact Node they run in, so this refuses other runtimes.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { makeExecutable } from './sea.mjs';
import { HOST_TARGET } from './targets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const log = (m) => process.stderr.write(`[build] ${m}\n`);
const started = Date.now();

if (process.versions.node !== pkg.engines.node) {
  console.error(`error: the executable embeds Node ${pkg.engines.node}, but the build runs on ${process.versions.node}; run it through npm after 'npm ci'`);
  process.exit(1);
}

if (!HOST_TARGET || HOST_TARGET.node !== process.versions.node) {
  console.error(`error: builds run on a release platform with its pinned Node (scripts/targets.mjs), not ${process.platform}/${process.arch} with ${process.versions.node}`);
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
const seaDir = join(dist, 'sea');
mkdirSync(seaDir, { recursive: true });

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
const bundle = join(seaDir, 'main.cjs');
const main = await build({ ...common, entryPoints: [join(root, 'src/main.ts')], outfile: bundle, plugins: [lazySplit], banner: { js: loader }, metafile: true });
// Start-up depends on this: a static import of a heavy module would pull it into the main script.
const heavy = Object.keys(main.metafile.inputs).filter((f) => /node_modules\/(@kubernetes|openid-client|ws|jose|execa)\//.test(f) || /^src\/(kube|release|procedure|helm)\//.test(f));
if (heavy.length > 0) {
  console.error(`error: the main script statically imports modules that must load lazily: ${heavy.slice(0, 5).join(', ')}`);
  process.exit(1);
}

log(`bundling the ${lazy.size} lazily imported modules`);
const lazyBundle = join(seaDir, 'lazy.cjs');
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
const lazyCache = join(seaDir, 'lazy.cache');
writeFileSync(lazyCache, script.createCachedData());

log(`making the SEA executable with Node ${process.version}`);
const exe = join(dist, 'kubectl-milvus');
makeExecutable({
  target: HOST_TARGET,
  runtime: process.execPath,
  blobNode: process.execPath,
  main: bundle,
  assets: { 'lazy.cjs': lazyBundle, 'lazy.cache': lazyCache },
  codeCache: true,
  work: seaDir,
  out: exe,
  log,
});
// kubectl (>= 1.26) asks kubectl_complete-milvus for completions; the same binary answers.
symlinkSync('kubectl-milvus', join(dist, 'kubectl_complete-milvus'));
const mb = (statSync(exe).size / 1024 / 1024).toFixed(1);
log(`dist/kubectl-milvus (${mb} MiB) built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
