// Shared by the emulated suite (test/emulated/*.test.mjs): loading the package
// as a user would and the native modes to run through. Seeded inputs and the float64
// oracle come from test/oracle/ (plain JS, so they run under the arm64 emulator and wine too).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The package under test: FUSED_ATTENTION_PACKAGE_DIR (a staged install: package.json,
 * dist/, prebuilds/, node_modules/node-gyp-build), else this checkout (its build/).
 */
export const packageDir = path.resolve(process.env.FUSED_ATTENTION_PACKAGE_DIR || path.join(here, '..', '..'));
const requireFromPackage = createRequire(path.join(packageDir, 'package.json'));
export const fa = requireFromPackage(packageDir);
/** The addon itself (internal: setIsa), from the same module instance the package uses. */
export const addon = requireFromPackage(path.join(packageDir, 'dist', 'backend.js')).nativeAddon();
/** The file node-gyp-build picked for this platform. */
export const addonFile = requireFromPackage('node-gyp-build').resolve(packageDir);

export const TOLERANCE = 1e-5;

/**
 * Runs `node -e script` in a child process with extra environment variables and
 * returns its stdout. Under qemu-user the child must be started through the
 * emulator too: the runner passes it in FA_EMULATOR ("qemu-aarch64 -L /usr/aarch64-linux-gnu").
 * Under wine node.exe starts the child itself (a Windows process, Windows pipes): no FA_EMULATOR.
 */
export function runNode(script, env) {
  const prefix = (process.env.FA_EMULATOR || '').split(' ').filter(Boolean);
  const [command, ...args] = [...prefix, process.execPath, '-e', script];
  const result = spawnSync(command, args, { env: { ...process.env, ...env }, encoding: 'utf8', cwd: packageDir });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`child exited with ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout;
}

/** Every ISA the addon supports x 1 and 2 threads (none without the addon: the loading tests fail then). */
export function nativeModes() {
  const modes = [];
  if (addon === null) return modes;
  for (const isa of addon.info().supportedIsas) {
    for (const threads of [1, 2]) {
      modes.push({ name: `${isa}, ${threads} thread(s)`, isa, threads, select: () => { addon.setIsa(isa); addon.setThreads(threads); } });
    }
  }
  return modes;
}

/** Puts back the addon's ISA and thread count (call from an after() hook). */
export function restoreMode() {
  const initial = addon?.info();
  return () => {
    if (!initial) return;
    addon.setIsa(initial.isa);
    addon.setThreads(initial.threads);
  };
}

// ---- checks ------------------------------------------------------------------------

export function firstNonFinite(data) {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

export function sameBits(a, b) {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
