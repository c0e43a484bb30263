/**
 * The install story, end to end: pack the package as `npm publish` would, install
 * the tarball into fresh projects under os.tmpdir() (dependencies come from the npm
 * registry or its local cache), and use it there from CommonJS, ESM, TypeScript and
 * worker_threads. Builds this platform's prebuild first (scripts/prebuild.js: zig, as
 * shipped; build/ is untouched) when it is missing or older than native/ or binding.gyp,
 * and rebuilds any other stale prebuild, so the tarball never carries an old binary.
 * The consumer scripts live in test/fixtures/install/ and are copied next to the
 * installed package, so nothing resolves back into this repository.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WASM_BUILT, WASM_ISA } from './helpers';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures', 'install');
const PLATFORM = `${process.platform}-${process.arch}`;
/** This process's C library, and the other one (whose prebuild must never load here). */
const LIBC = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime ? 'glibc' : 'musl';
const OTHER_LIBC = LIBC === 'glibc' ? 'musl' : 'glibc';
const PREBUILD = `prebuilds/${PLATFORM}/node.napi.${LIBC}.node`;
const NOT_FOUND = `no native build for ${PLATFORM} (${LIBC}) in build/ or prebuilds/; run \`npm rebuild fused-attention --build-from-source\` to build one`;
const MAX_TARBALL_BYTES = 2 * 1024 * 1024;
/** The shipped prebuilds (scripts/prebuild.js): CI builds them all before the tests, so there the tarball must hold each. */
const { TARGETS, SHIPPED } = createRequire(import.meta.url)('../scripts/prebuild.js') as {
  TARGETS: Record<string, { file?: string }>;
  SHIPPED: string[];
};
// Without a usable native binary the package runs the WebAssembly backend when the tarball ships it (built here), else JS.
const FALLBACK = WASM_BUILT ? { name: 'wasm', isa: WASM_ISA, threads: 1 } : { name: 'js', isa: 'js', threads: 1 };
const FALLBACK_TEXT = WASM_BUILT ? 'the WebAssembly backend (slower than native)' : 'the slower pure-TypeScript backend';
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier', '--foreground-scripts'];

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Summary {
  backend: { name: 'native' | 'js'; isa: string; threads: number; reason?: string };
  small: number;
  shape: number[];
  maxError: number;
  binary?: string | null;
  sameInstance?: boolean;
}

interface WorkersReport {
  backend: Summary['backend'];
  mainError: number;
  workers: { code: number; result: { backend: string; error: number } | null }[];
  threadsBefore: number;
  threadsAfter: number;
  doneAt: number;
}

/**
 * The environment of every child: without the npm_* variables a parent `npm test`
 * sets (they would configure the nested npm) and without FUSED_ATTENTION_*.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('npm_') || key.startsWith('FUSED_ATTENTION_') || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

function run(command: string, args: string[], options: SpawnSyncOptions = {}): Run {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, env: cleanEnv(), ...options });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Runs and expects exit code 0; the error shows the output. */
function runOk(command: string, args: string[], options: SpawnSyncOptions = {}): Run {
  const result = run(command, args, options);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

function lastJsonLine<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** Runs a fixture with node in `project` and returns its JSON line and stderr. */
function consume<T = Summary>(project: string, fixture: string, env: Record<string, string> = {}): { summary: T; stderr: string } {
  const result = runOk(process.execPath, [fixture], { cwd: project, env: cleanEnv(env), timeout: 60_000 });
  return { summary: lastJsonLine<T>(result.stdout), stderr: result.stderr };
}

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** The npm CLI script, to run npm with a PATH that holds nothing but node. */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'npm');
    if (!existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (real.endsWith('.js')) return real;
  }
  return join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
}

/** A directory for PATH with node, sh and python3 but no make and no C/C++ compiler. */
function noCompilerBin(dir: string): string {
  mkdirSync(dir, { recursive: true });
  symlinkSync(process.execPath, join(dir, 'node'));
  // npm's node-gyp shim is a `#!/usr/bin/env sh` script; with sh and python3 present
  // node-gyp gets as far as a real user's machine would and fails on the missing make.
  symlinkSync('/bin/sh', join(dir, 'sh'));
  const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  if (python.status === 0 && python.stdout.trim()) symlinkSync(python.stdout.trim(), join(dir, 'python3'));
  return dir;
}

/** Points node-gyp at the running Node's own headers when it has them (no download needed). */
function localHeaders(): Record<string, string> {
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? { npm_config_nodedir: prefix } : {};
}

function installedFiles(project: string, sub: string): string[] {
  const dir = join(project, 'node_modules', 'fused-attention', sub);
  return existsSync(dir) ? readdirSync(dir) : [];
}

let work = '';
let tarball = '';
let packed: { path: string; size: number }[] = [];
let tarballSize = 0;
/** Installed with install scripts (npm's default). */
let project = '';
let installLog = '';
/** Installed with --ignore-scripts. */
let noScripts = '';

function newProject(name: string, installFlags: string[], devDependencies: Record<string, string> = {}): { dir: string; log: string } {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, devDependencies }, null, 2));
  cpSync(FIXTURES, dir, { recursive: true });
  const result = runOk('npm', ['install', tarball, ...NPM_FLAGS, ...installFlags], { cwd: dir });
  return { dir, log: result.stdout + result.stderr };
}

describe.skipIf(process.platform !== 'linux')('install story (packed tarball, fresh projects)', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'fused-attention-install-'));
    runOk('npm', ['run', 'build:ts'], { cwd: ROOT });
    const sources = Math.max(newestMtime(join(ROOT, 'native')), newestMtime(join(ROOT, 'binding.gyp')));
    const stale = SHIPPED.filter((name) => {
      const file = join(ROOT, TARGETS[name].file!);
      if (!existsSync(file)) return TARGETS[name].file === PREBUILD;
      return statSync(file).mtimeMs < sources;
    });
    if (stale.length > 0) runOk(process.execPath, ['scripts/prebuild.js', ...stale], { cwd: ROOT, timeout: 840_000 });
    // The prebuild and dist/ are fresh, so prepack (which rebuilds both) is skipped.
    const pack = runOk('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT });
    const [info] = JSON.parse(pack.stdout) as { filename: string; size: number; files: { path: string; size: number }[] }[];
    tarball = join(work, info.filename);
    packed = info.files;
    tarballSize = info.size;

    // A TypeScript consumer on Node has @types/node; the same version as here comes from the npm cache.
    const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    ({ dir: project, log: installLog } = newProject('consumer', [], { '@types/node': ours.devDependencies['@types/node'] }));
    ({ dir: noScripts } = newProject('consumer-ignore-scripts', ['--ignore-scripts']));
  }, 900_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('npm pack', () => {
    it('holds the build output with types, native sources, binding.gyp, prebuilds, README and LICENSE; nothing else', () => {
      const paths = packed.map((file) => file.path).sort();
      const allowed = [
        /^(README\.md|LICENSE|package\.json|binding\.gyp|scripts\/install-fallback\.js)$/,
        /^dist\/([\w-]+\/)*[\w-]+\.(js|mjs|d\.ts|d\.mts)$/,
        // The browser build (scripts/build-browser.js): ES modules, the browser stand-ins named *.browser.mjs.
        /^dist\/browser\/([\w-]+\/)*[\w-]+(\.browser)?\.mjs$/,
        /^dist\/fused_attention(_relaxed)?\.wasm$/,
        /^native\/[\w-]+\.(cc|cpp|h|inl)$/,
        /^prebuilds\/linux-[a-z0-9]+\/node\.napi\.(glibc|musl)\.node$/,
        // Windows has one C runtime, so its prebuild carries no libc tag.
        /^prebuilds\/win32-[a-z0-9]+\/node\.napi\.node$/,
      ];
      expect(paths.filter((path) => !allowed.some((pattern) => pattern.test(path)))).toEqual([]);
      for (const required of [
        'README.md',
        'LICENSE',
        'package.json',
        'binding.gyp',
        'scripts/install-fallback.js',
        'dist/index.js',
        'dist/index.mjs',
        'dist/index.d.ts',
        'dist/index.d.mts',
        'dist/browser.mjs',
        'dist/browser.d.mts',
        PREBUILD,
        ...(process.env.CI ? SHIPPED.map((name) => TARGETS[name].file!) : []),
      ]) {
        expect(paths).toContain(required);
      }
      // Every module of lib/ ships compiled, with its declarations; the browser stand-ins (*.browser.ts) in the browser build.
      for (const file of readdirSync(join(ROOT, 'lib'), { recursive: true }) as string[]) {
        if (!file.endsWith('.ts')) continue;
        const name = file.slice(0, -'.ts'.length);
        if (name.endsWith('.browser')) {
          expect(paths).toContain(`dist/browser/${name}.mjs`);
          continue;
        }
        expect(paths).toContain(`dist/${name}.js`);
        expect(paths).toContain(`dist/${name}.d.ts`);
      }
      // A source build needs every file binding.gyp names (and what they include: all of native/).
      const gyp = readFileSync(join(ROOT, 'binding.gyp'), 'utf8');
      for (const source of gyp.match(/native\/[\w-]+\.(cc|cpp)/g) ?? []) expect(paths).toContain(source);
      for (const source of readdirSync(join(ROOT, 'native'))) expect(paths).toContain(`native/${source}`);
      console.info(`npm pack: ${paths.length} files, ${tarballSize} bytes\n  ${paths.join('\n  ')}`);
    });

    it('stays under 2 MB', () => {
      expect(tarballSize).toBeGreaterThan(0);
      expect(tarballSize).toBeLessThan(MAX_TARBALL_BYTES);
    });
  });

  describe('npm install <tarball>', () => {
    it('installs without compiling: the prebuild matches', () => {
      // npm 11 runs a dependency's install script (warning that allowScripts does not
      // cover it yet); node-gyp-build then finds the prebuild and builds nothing.
      const ranInstallScript = installLog.includes('> fused-attention@0.1.0 install');
      console.info(`npm ${run('npm', ['--version']).stdout.trim()} ran the install script: ${ranInstallScript}`);
      expect(installedFiles(project, 'build')).toEqual([]);
      expect(installedFiles(project, `prebuilds/${PLATFORM}`)).toContain(`node.napi.${LIBC}.node`);
    });

    it('require() works and computes the known result with the prebuild', () => {
      const { summary, stderr } = consume(project, 'consumer.cjs');
      expect(summary.backend.name).toBe('native');
      expect(summary.backend.reason).toBeUndefined();
      expect(summary.binary).toBe(PREBUILD);
      expect(Math.abs(summary.small - 7)).toBeLessThan(1e-5);
      expect(summary.shape).toEqual([1, 4, 160, 64]);
      expect(summary.maxError).toBeLessThan(1e-5);
      expect(stderr).toBe('');
    });

    it('import works, computes the known result and shares the CommonJS instance', () => {
      const { summary, stderr } = consume(project, 'consumer.mjs');
      expect(summary.backend.name).toBe('native');
      expect(Math.abs(summary.small - 7)).toBeLessThan(1e-5);
      expect(summary.maxError).toBeLessThan(1e-5);
      expect(summary.sameInstance).toBe(true);
      expect(stderr).toBe('');
    });

    it("the `browser` condition resolves to dist/browser.mjs, whose modules all load from the tarball", () => {
      // Node resolves the browser condition too when asked: the exports map and the packed files, without a browser.
      const script = [
        "const fa = await import('fused-attention');",
        "let error = '';",
        'try { fa.backend(); } catch (err) { error = err.message; }',
        "console.log(JSON.stringify({ entry: import.meta.resolve('fused-attention'), names: Object.keys(fa).length, error }));",
      ].join('\n');
      const result = runOk(process.execPath, ['--conditions=browser', '--input-type=module', '-e', script], { cwd: project });
      const summary = lastJsonLine<{ entry: string; names: number; error: string }>(result.stdout);
      expect(summary.entry).toMatch(/\/node_modules\/fused-attention\/dist\/browser\.mjs$/);
      expect(summary.names).toBeGreaterThan(10);
      expect(summary.error).toMatch(/^fused-attention: await init\(\) before the first call/);
      expect(result.stderr).toBe('');
    });

    it('the shipped types check a strict NodeNext consumer (import and require)', () => {
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      const result = run(process.execPath, [tsc, '-p', join(project, 'tsconfig.json')], { cwd: project });
      expect(result.stdout + result.stderr).toBe('');
      expect(result.status).toBe(0);
    });

    it('works in the main thread and 3 worker_threads at once; the process then exits 0 promptly', () => {
      const started = Date.now();
      const result = run(process.execPath, ['workers.cjs', 'concurrent'], { cwd: project, timeout: 60_000 });
      const exitedAt = Date.now();
      expect(result.stderr).toBe('');
      expect({ status: result.status, signal: result.signal }).toEqual({ status: 0, signal: null });
      const report = lastJsonLine<WorkersReport>(result.stdout);
      expect(report.backend.name).toBe('native');
      expect(report.mainError).toBeLessThan(1e-5);
      expect(report.workers).toHaveLength(3);
      for (const worker of report.workers) {
        expect(worker.code).toBe(0);
        expect(worker.result?.backend).toBe('native');
        expect(worker.result?.error).toBeLessThan(1e-5);
      }
      // Exited workers leave no threads behind; the pool is process-wide.
      expect(report.threadsAfter).toBeLessThanOrEqual(report.threadsBefore);
      expect(exitedAt - report.doneAt).toBeLessThan(2_000);
      expect(exitedAt - started).toBeLessThan(30_000);
    });

    it('workers terminated with calls in flight unload cleanly: no crash, no leaked threads', () => {
      const result = run(process.execPath, ['workers.cjs', 'terminate'], { cwd: project, timeout: 60_000 });
      const exitedAt = Date.now();
      expect(result.stderr).toBe('');
      expect({ status: result.status, signal: result.signal }).toEqual({ status: 0, signal: null });
      const report = lastJsonLine<WorkersReport>(result.stdout);
      expect(report.workers.map((worker) => worker.code)).toEqual(report.workers.map(() => 1));
      expect(report.mainError).toBeLessThan(1e-5);
      expect(report.threadsAfter).toBeLessThanOrEqual(report.threadsBefore);
      expect(exitedAt - report.doneAt).toBeLessThan(2_000);
    });

    it('npm rebuild --build-from-source compiles the shipped sources, and that build is loaded', () => {
      runOk('npm', ['rebuild', 'fused-attention', '--build-from-source', ...NPM_FLAGS], {
        cwd: project,
        env: cleanEnv(localHeaders()),
        timeout: 240_000,
      });
      expect(installedFiles(project, 'build/Release')).toContain('fused_attention.node');
      const { summary } = consume(project, 'consumer.cjs');
      expect(summary.backend.name).toBe('native');
      expect(summary.binary).toBe('build/Release/fused_attention.node');
      expect(Math.abs(summary.small - 7)).toBeLessThan(1e-5);
      expect(summary.maxError).toBeLessThan(1e-5);
      // node-gyp-build's PREBUILDS_ONLY=1 skips build/: the prebuild is still there and loads.
      expect(consume(project, 'consumer.cjs', { PREBUILDS_ONLY: '1' }).summary).toMatchObject({ backend: { name: 'native' }, binary: PREBUILD });
    }, 300_000); // the compile alone may take the npm rebuild's whole 240 s on a loaded 2-core machine
  });

  describe('npm install <tarball> --ignore-scripts (pnpm 10, many CI setups)', () => {
    it('still runs native: the prebuild is located at load time', () => {
      expect(installedFiles(noScripts, 'build')).toEqual([]);
      const { summary, stderr } = consume(noScripts, 'consumer.cjs');
      expect(summary.backend.name).toBe('native');
      expect(summary.binary).toBe(PREBUILD);
      expect(Math.abs(summary.small - 7)).toBeLessThan(1e-5);
      expect(summary.maxError).toBeLessThan(1e-5);
      expect(stderr).toBe('');
    });

    it('never loads a prebuild built for the other libc', () => {
      const prebuilds = join(noScripts, 'node_modules', 'fused-attention', 'prebuilds', PLATFORM);
      // Not a loadable binary: loading it would fail with an ELF error, not "not found".
      writeFileSync(join(prebuilds, `node.napi.${OTHER_LIBC}.node`), `a ${OTHER_LIBC} build would sit here`);

      const beside = consume(noScripts, 'consumer.cjs', { FUSED_ATTENTION_SILENT: '1' }).summary;
      expect(beside.backend.name).toBe('native');
      expect(beside.binary).toBe(PREBUILD);

      // node-gyp-build told the wrong libc (it only checks /etc/alpine-release): refused anyway.
      const misdetected = consume(noScripts, 'consumer.cjs', { LIBC: OTHER_LIBC, FUSED_ATTENTION_SILENT: '1' }).summary;
      expect(misdetected.backend).toEqual({ ...FALLBACK, reason: NOT_FOUND });

      rmSync(join(noScripts, 'node_modules', 'fused-attention', PREBUILD));
      const otherOnly = consume(noScripts, 'consumer.cjs', { FUSED_ATTENTION_SILENT: '1' }).summary;
      expect(otherOnly.backend).toEqual({ ...FALLBACK, reason: NOT_FOUND });
      expect(Math.abs(otherOnly.small - 7)).toBeLessThan(1e-5);
    });

    it('without a prebuild and without a compiler the install completes and the JS backend says why', () => {
      const installed = join(noScripts, 'node_modules', 'fused-attention');
      rmSync(join(installed, 'prebuilds'), { recursive: true, force: true });
      rmSync(join(installed, 'build'), { recursive: true, force: true });
      const PATH = noCompilerBin(join(work, 'no-compiler-bin'));
      const rebuild = run(process.execPath, [npmCli(), 'rebuild', 'fused-attention', ...NPM_FLAGS], {
        cwd: noScripts,
        env: cleanEnv({ PATH }),
      });
      expect(rebuild.status, rebuild.stdout + rebuild.stderr).toBe(0);
      expect(rebuild.stdout + rebuild.stderr).toContain('gyp ERR!');
      expect(rebuild.stdout + rebuild.stderr).toContain(
        `fused-attention: no prebuilt binary for ${PLATFORM} and the source build failed; installed with ${FALLBACK_TEXT}.`,
      );
      expect(installedFiles(noScripts, 'build/Release').filter((file) => file.endsWith('.node'))).toEqual([]);
      // Asked for explicitly, a source build that fails fails the command.
      const forced = run(process.execPath, [npmCli(), 'rebuild', 'fused-attention', '--build-from-source', ...NPM_FLAGS], {
        cwd: noScripts,
        env: cleanEnv({ PATH }),
      });
      expect(forced.status).not.toBe(0);
      expect(forced.stdout + forced.stderr).toContain('fused-attention: --build-from-source was requested but the source build failed');

      for (const fixture of ['consumer.cjs', 'consumer.mjs']) {
        const { summary, stderr } = consume(noScripts, fixture);
        expect(summary.backend).toEqual({ ...FALLBACK, reason: NOT_FOUND });
        expect(Math.abs(summary.small - 7)).toBeLessThan(1e-5);
        expect(summary.maxError).toBeLessThan(1e-5);
        // One warning per process, however many calls, saying how to fix or hide it.
        expect(stderr.match(WASM_BUILT ? /FUSED_ATTENTION_WASM_FALLBACK/g : /FUSED_ATTENTION_JS_FALLBACK/g)).toHaveLength(1);
        expect(stderr).toContain(`fused-attention: using ${FALLBACK_TEXT}: ${NOT_FOUND}`);
        expect(stderr).toContain('Set FUSED_ATTENTION_SILENT=1 to hide this warning.');
      }
      expect(consume(noScripts, 'consumer.cjs', { FUSED_ATTENTION_SILENT: '1' }).stderr).toBe('');

      const demanded = run(process.execPath, ['-e', "require('fused-attention').backend()"], {
        cwd: noScripts,
        env: cleanEnv({ FUSED_ATTENTION_BACKEND: 'native' }),
      });
      expect(demanded.status).toBe(1);
      expect(demanded.stderr).toContain('fused-attention: FUSED_ATTENTION_BACKEND=native but the native addon was not found.');
      expect(demanded.stderr).toContain('npm rebuild fused-attention --build-from-source');
    });
  });
});
