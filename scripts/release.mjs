// Builds the release archives for the platform this runs on and renders krew-manifest.yaml:
//   dist/release/kubectl-milvus_<version>_<os>_<arch>.tar.gz   (kubectl-milvus, LICENSE, README.md)
//   dist/release/helm-milvus_<version>_<os>_<arch>.tar.gz      (plugin.yaml, bin/kubectl-milvus, LICENSE)
//   dist/release/checksums.txt
// krew-manifest.yaml gets the real sha256 of the archive built here; the other platforms keep the
// sha256 recorded by the release pipeline (docs/install.md), which runs this script on each.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = pkg.version;
const os = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform];
const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
const exe = join(root, 'dist', os === 'windows' ? 'kubectl-milvus.exe' : 'kubectl-milvus');
if (!existsSync(exe)) throw new Error('run "npm run build" first');
const out = join(root, 'dist', 'release');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const sha = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');

const stage = join(out, 'stage');
mkdirSync(join(stage, 'kubectl'), { recursive: true });
mkdirSync(join(stage, 'helm', 'bin'), { recursive: true });
for (const f of ['LICENSE', 'README.md']) copyFileSync(join(root, f), join(stage, 'kubectl', f));
copyFileSync(exe, join(stage, 'kubectl', 'kubectl-milvus'));
copyFileSync(join(root, 'plugin.yaml'), join(stage, 'helm', 'plugin.yaml'));
copyFileSync(join(root, 'LICENSE'), join(stage, 'helm', 'LICENSE'));
copyFileSync(exe, join(stage, 'helm', 'bin', 'kubectl-milvus'));
const kubectlArchive = join(out, `kubectl-milvus_${version}_${os}_${arch}.tar.gz`);
const helmArchive = join(out, `helm-milvus_${version}_${os}_${arch}.tar.gz`);
// Fixed owner and mtime: the same input gives the same archive.
const tarArgs = ['--owner=0', '--group=0', '--numeric-owner', '--mtime=1970-01-01', '--sort=name', '-czf'];
execFileSync('tar', [...tarArgs, kubectlArchive, '-C', join(stage, 'kubectl'), 'kubectl-milvus', 'LICENSE', 'README.md']);
execFileSync('tar', [...tarArgs, helmArchive, '-C', join(stage, 'helm'), 'plugin.yaml', 'LICENSE', 'bin']);
rmSync(stage, { recursive: true });

const sums = [kubectlArchive, helmArchive].map((f) => `${sha(f)}  ${f.split('/').pop()}`);
writeFileSync(join(out, 'checksums.txt'), sums.join('\n') + '\n');

// Where the release pipeline publishes the archives (docs/install.md); krew downloads from there.
const baseUrl = (process.env.RELEASE_BASE_URL ?? 'https://downloads.kubectl-milvus.invalid/releases').replace(/\/$/, '');
const outFlag = process.argv.indexOf('--manifest-out');
const manifestPath = outFlag > 0 ? process.argv[outFlag + 1] : join(root, 'krew-manifest.yaml');
const manifestSource = join(root, 'krew-manifest.yaml');
const manifest = yaml.load(readFileSync(manifestSource, 'utf8'));
manifest.spec.version = `v${version}`;
for (const p of manifest.spec.platforms) {
  const ml = p.selector.matchLabels;
  const ext = ml.os === 'windows' ? '.exe' : '';
  const name = `kubectl-milvus_${version}_${ml.os}_${ml.arch}.tar.gz`;
  p.uri = `${baseUrl}/v${version}/${name}`;
  p.bin = `kubectl-milvus${ext}`;
  p.files = [{ from: `kubectl-milvus${ext}`, to: '.' }, { from: 'LICENSE', to: '.' }];
  if (ml.os === os && ml.arch === arch) p.sha256 = sha(kubectlArchive);
}
writeFileSync(manifestPath, yaml.dump(manifest, { lineWidth: -1, noRefs: true }));
process.stderr.write(`${sums.join('\n')}\n${manifestPath}: sha256 of ${os}/${arch} updated\n`);
