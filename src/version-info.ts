/**
 * Build facts of this executable. scripts/build.mjs replaces the __KM_*__ identifiers at bundle
 * time; unbundled runs (tsx, tests) fall back to package.json and "unknown".
 */
import { readFileSync } from 'node:fs';

declare const __KM_VERSION__: string | undefined;
declare const __KM_COMMIT__: string | undefined;
declare const __KM_BUILD_DATE__: string | undefined;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION: string = typeof __KM_VERSION__ === 'string' ? __KM_VERSION__ : packageVersion();
export const GIT_COMMIT: string = typeof __KM_COMMIT__ === 'string' ? __KM_COMMIT__ : 'unknown';
export const BUILD_DATE: string = typeof __KM_BUILD_DATE__ === 'string' ? __KM_BUILD_DATE__ : 'unknown';
