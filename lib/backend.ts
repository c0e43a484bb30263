/**
 * Picks the native addon or the pure-TypeScript kernels, once, and records why.
 *
 * The choice is made on first use (not on import), so importing the package
 * never throws. FUSED_ATTENTION_BACKEND=js forces the JS kernels;
 * FUSED_ATTENTION_BACKEND=native makes a missing or broken addon an error.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BackendInfo } from './types';
import type { NativeAddon } from './native';
import { checkThreads, describe, invalidArgument } from './validate';

const PACKAGE_NAME = 'fused-attention';
const ENV = 'FUSED_ATTENTION_BACKEND';

interface Selection {
  addon: NativeAddon | null;
  /** Why the JS backend is in use; empty for native. */
  reason: string;
  /** Set when the choice itself failed (native demanded but unavailable); thrown on every use. */
  error: Error | null;
}

let selection: Selection | null = null;

/** The package root: the nearest directory above this file whose package.json is ours (lib/ or dist/ both work). */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // An unreadable package.json above us is not ours; keep walking.
      }
    }
    if (dirname(dir) === dir) throw new Error(`${PACKAGE_NAME}: could not find its package.json above ${start}`);
  }
}

/** "linux-x64 (glibc 2.36)": what prebuilds are matched against. */
function describePlatform(): string {
  let libc = '';
  if (process.platform === 'linux') {
    // Same source as detect-libc: the glibc version, absent on musl.
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    const header = report?.header;
    libc = header?.glibcVersionRuntime ? ` (glibc ${header.glibcVersionRuntime})` : ' (musl)';
  }
  return `${process.platform}-${process.arch}${libc}, Node ${process.version}, Node-API ${process.versions.napi}`;
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('No native build was found');
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** The message when native was demanded: what was tried, where, and how to fix it. */
function nativeUnavailable(root: string, err: unknown): Error {
  const missing = isNotFound(err);
  const lines = [
    `${PACKAGE_NAME}: ${ENV}=native but the native addon ${missing ? 'was not found' : 'failed to load'}.`,
    `  Tried: node-gyp-build in ${root} (build/Release, build/Debug, prebuilds/${process.platform}-${process.arch})`,
    `  Platform: ${describePlatform()}`,
    `  Error: ${firstLine(err)}`,
    '  To build it from source (needs Python 3, make and a C++17 compiler):',
    `    npm rebuild ${PACKAGE_NAME}`,
    '  or, in a checkout of the package:',
    '    npx node-gyp rebuild',
    `  Or unset ${ENV} to fall back to the pure-TypeScript kernels.`,
  ];
  return new Error(lines.join('\n'), { cause: err });
}

function select(): Selection {
  const forced = process.env[ENV];
  if (forced !== undefined && forced !== '' && forced !== 'js' && forced !== 'native') {
    const error = invalidArgument(Error, `${ENV} to be "native", "js" or unset`, describe(forced), PACKAGE_NAME);
    return { addon: null, reason: '', error };
  }
  if (forced === 'js') return { addon: null, reason: `${ENV}=js forces the JS backend`, error: null };

  let root = __dirname;
  try {
    root = findPackageRoot(__dirname);
    // createRequire works the same compiled to CommonJS and under vitest.
    const nodeGypBuild = createRequire(__filename)('node-gyp-build') as (dir: string) => unknown;
    const addon = nodeGypBuild(root) as NativeAddon;
    if (typeof addon?.attention !== 'function' || typeof addon.info !== 'function') {
      throw new Error('the loaded addon does not export attention() and info()');
    }
    return { addon, reason: '', error: null };
  } catch (err) {
    if (forced === 'native') return { addon: null, reason: '', error: nativeUnavailable(root, err) };
    const reason = isNotFound(err)
      ? `no native build for ${process.platform}-${process.arch}; run \`npm rebuild ${PACKAGE_NAME}\` to build one`
      : `the native addon failed to load: ${firstLine(err)}`;
    return { addon: null, reason, error: null };
  }
}

function selected(): Selection {
  selection ??= select();
  if (selection.error) throw selection.error;
  return selection;
}

/** Internal (kernel dispatch, tests): the loaded addon, or null when the JS backend is in use. */
export function nativeAddon(): NativeAddon | null {
  return selected().addon;
}

/** Which implementation runs attention(), and why the JS one when it does. */
export function backend(): BackendInfo {
  const { addon, reason } = selected();
  if (addon === null) return { name: 'js', isa: 'js', threads: 1, reason };
  const info = addon.info();
  return { name: 'native', isa: info.isa, threads: info.threads };
}

/**
 * Sets the native thread pool size (an integer 1..256, including the calling
 * thread). The JS backend always runs on the calling thread, so there it is
 * checked and then has no effect.
 */
export function setThreads(n: number): void {
  const threads = checkThreads(n);
  const { addon } = selected();
  if (addon !== null) addon.setThreads(threads);
}
