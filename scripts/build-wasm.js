'use strict';
// Builds dist/fused_attention.wasm, the WebAssembly backend (issue 18): the
// fused attention kernel of native/ compiled for wasm32 with SIMD128
// (native/kernel_wasm.cpp + simd_wasm.h), its planner (attention_plan.cpp) and
// its C ABI (wasm_entry.cpp), against wasi-libc for malloc and libm only: the
// module imports nothing.
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
const output = path.join(root, 'dist', 'fused_attention.wasm');
const objects = path.join(root, 'build', 'wasm');
const sources = ['kernel_wasm.cpp', 'attention_plan.cpp', 'wasm_entry.cpp'];

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
    `build-wasm: cannot build dist/fused_attention.wasm: ${why}.`,
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

if (!force && fs.existsSync(output) && fs.statSync(output).mtimeMs >= newestInput()) {
  console.log('build-wasm: dist/fused_attention.wasm is up to date');
  process.exit(0);
}

const cxx = findCompiler();
if (cxx === null) unavailable('no clang++ with the wasm32 target (tried clang++-19 ... clang++-16, clang++)');
const sysroot = findSysroot();
if (sysroot === null) unavailable('no wasi-libc sysroot (include/wasm32-wasi and lib/wasm32-wasi)');

fs.mkdirSync(objects, { recursive: true });
fs.mkdirSync(path.dirname(output), { recursive: true });
const target = ['--target=wasm32-wasi', `--sysroot=${sysroot}`];
const built = [];
for (const source of sources) {
  const object = path.join(objects, source.replace(/\.cpp$/, '.o'));
  execFileSync(cxx, [...target, ...COMPILE_FLAGS, '-c', path.join(root, 'native', source), '-o', object], { stdio: 'inherit' });
  built.push(object);
}
const temporary = `${output}.tmp`;
execFileSync(cxx, [...target, '-msimd128', ...LINK_FLAGS, '-o', temporary, ...built], { stdio: 'inherit' });

// The loader instantiates it with no imports: refuse a build that needs any.
const imports = WebAssembly.Module.imports(new WebAssembly.Module(fs.readFileSync(temporary)));
if (imports.length > 0) {
  fs.rmSync(temporary);
  console.error(`build-wasm: the module imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}; it must import nothing`);
  process.exit(1);
}
fs.renameSync(temporary, output);
console.log(`build-wasm: dist/fused_attention.wasm, ${fs.statSync(output).size} bytes (${cxx}, sysroot ${sysroot})`);
