'use strict';
// Builds the WebAssembly backend (issue 18): the fused attention kernel of
// native/ compiled for wasm32 (native/kernel_wasm.cpp + simd_wasm.h), its
// planner (attention_plan.cpp) and its C ABI (wasm_entry.cpp), against
// wasi-libc for malloc and libm only: the modules import nothing. Two builds
// of the kernel, the loader picks one (lib/backend.ts):
//   dist/fused_attention.wasm          plain SIMD128, for every engine with SIMD
//   dist/fused_attention_relaxed.wasm  + relaxed SIMD (fused multiply-add), for
//                                      engines that validate it (V8 11.4+: Node 22, Chrome 114)
//
//   node scripts/build-wasm.js                  build (error when no toolchain)
//   node scripts/build-wasm.js --if-available   build, or say why not and exit 0 (prepare)
//   node scripts/build-wasm.js --force          rebuild even when up to date
//
// Toolchain (Debian 12): apt-get install clang-19 lld-19 wasi-libc libc++-19-dev-wasm32 libclang-rt-19-dev-wasm32
// (clang 16 works too). Override with WASM_CXX=/path/to/clang++ and
// WASI_SYSROOT=/path/to/wasi-sysroot (wasi-sdk's share/wasi-sysroot).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const objects = path.join(root, 'build', 'wasm');
// Each module: its file and the flags of its kernel (the planner and the C ABI are shared).
const MODULES = [
  { file: path.join(root, 'dist', 'fused_attention.wasm'), kernelFlags: [] },
  { file: path.join(root, 'dist', 'fused_attention_relaxed.wasm'), kernelFlags: ['-mrelaxed-simd'] },
];
const KERNEL = 'kernel_wasm.cpp';
const SHARED = ['attention_plan.cpp', 'wasm_entry.cpp'];

const args = new Set(process.argv.slice(2));
const ifAvailable = args.has('--if-available');
const force = args.has('--force');

const COMPILE_FLAGS = [
  '-std=c++17',
  '-O3',
  '-msimd128',
  '-fno-exceptions',
  '-fno-rtti',
  '-fno-math-errno',
  '-fno-c++-static-destructors',
  '-Wall',
  '-Wextra',
  '-Wno-unused-parameter',
];
const LINK_FLAGS = [
  '-mexec-model=reactor', // a library: _initialize, no main
  '-nostdlib++',
  '-fuse-ld=lld',
  '-Wl,--strip-all',
  '-Wl,-z,stack-size=1048576',
  '-Wl,--initial-memory=2097152',
  '-Wl,--max-memory=4294967296',
];

function findCompiler() {
  const candidates = process.env.WASM_CXX ? [process.env.WASM_CXX] : ['clang++-19', 'clang++-18', 'clang++-17', 'clang++-16', 'clang++'];
  for (const cxx of candidates) {
    try {
      const targets = execFileSync(cxx, ['--print-targets'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (/\bwasm32\b/.test(targets)) return cxx;
    } catch {
      // not installed; try the next one
    }
  }
  return null;
}

function findSysroot() {
  const candidates = process.env.WASI_SYSROOT ? [process.env.WASI_SYSROOT] : ['/usr', '/opt/wasi-sdk/share/wasi-sysroot', '/usr/share/wasi-sysroot'];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'include', 'wasm32-wasi', 'stdlib.h')) && fs.existsSync(path.join(dir, 'lib', 'wasm32-wasi', 'libc.a'))) ?? null;
}

function unavailable(why) {
  const message = [
    `build-wasm: cannot build dist/fused_attention*.wasm: ${why}.`,
    '  Debian/Ubuntu: apt-get install clang-19 lld-19 wasi-libc libc++-19-dev-wasm32 libclang-rt-19-dev-wasm32',
    '  Elsewhere: set WASM_CXX to a clang++ with the wasm32 target and WASI_SYSROOT to a wasi-libc sysroot.',
  ].join('\n');
  if (!ifAvailable) {
    console.error(message);
    process.exit(1);
  }
  console.log(`${message}\n  Skipped: the package then falls back from native to the TypeScript kernels.`);
  process.exit(0);
}

function newestInput() {
  const native = path.join(root, 'native');
  return Math.max(fs.statSync(__filename).mtimeMs, ...fs.readdirSync(native).map((f) => fs.statSync(path.join(native, f)).mtimeMs));
}

if (!force && MODULES.every((m) => fs.existsSync(m.file) && fs.statSync(m.file).mtimeMs >= newestInput())) {
  console.log('build-wasm: dist/fused_attention*.wasm are up to date');
  process.exit(0);
}

/** The names of a wasm binary's imports (its import section), read without compiling it: this Node may not run relaxed SIMD. */
function importNames(bytes) {
  let at = 8; // magic and version
  const leb = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  const name = () => {
    const length = leb();
    at += length;
    return bytes.subarray(at - length, at).toString('utf8');
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    if (id !== 2) {
      at += size;
      continue;
    }
    const names = [];
    for (let count = leb(); count > 0; count--) {
      names.push(`${name()}.${name()}`);
      const kind = bytes[at++];
      // Skip the import's description: a type index, or a table / memory / global type.
      if (kind === 0) leb();
      else if (kind === 1) (at++, bytes[at++] & 1 ? (leb(), leb()) : leb());
      else if (kind === 2) (bytes[at++] & 1 ? (leb(), leb()) : leb());
      else at += 2;
    }
    return names;
  }
  return [];
}

const cxx = findCompiler();
if (cxx === null) unavailable('no clang++ with the wasm32 target (tried clang++-19 ... clang++-16, clang++)');
const sysroot = findSysroot();
if (sysroot === null) unavailable('no wasi-libc sysroot (include/wasm32-wasi and lib/wasm32-wasi)');

fs.mkdirSync(objects, { recursive: true });
const target = ['--target=wasm32-wasi', `--sysroot=${sysroot}`];
const compile = (source, extraFlags, object) => {
  execFileSync(cxx, [...target, ...COMPILE_FLAGS, ...extraFlags, '-c', path.join(root, 'native', source), '-o', object], { stdio: 'inherit' });
  return object;
};
const shared = SHARED.map((source) => compile(source, [], path.join(objects, source.replace(/\.cpp$/, '.o'))));
for (const m of MODULES) {
  const name = path.basename(m.file, '.wasm');
  const kernel = compile(KERNEL, m.kernelFlags, path.join(objects, `${name}.kernel.o`));
  fs.mkdirSync(path.dirname(m.file), { recursive: true });
  const temporary = `${m.file}.tmp`;
  execFileSync(cxx, [...target, '-msimd128', ...m.kernelFlags, ...LINK_FLAGS, '-o', temporary, kernel, ...shared], { stdio: 'inherit' });
  // The loader instantiates it with no imports: refuse a build that needs any.
  const imports = importNames(fs.readFileSync(temporary));
  if (imports.length > 0) {
    fs.rmSync(temporary);
    console.error(`build-wasm: ${name}.wasm imports ${imports.join(', ')}; it must import nothing`);
    process.exit(1);
  }
  fs.renameSync(temporary, m.file);
  console.log(`build-wasm: ${path.relative(root, m.file)}, ${fs.statSync(m.file).size} bytes (${cxx}, sysroot ${sysroot})`);
}
