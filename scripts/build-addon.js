'use strict';
// Compiles the addon with `zig c++` (clang 16 with zig's libc headers and stub
// libraries) for one target, without node-gyp: the sources, defines and per-ISA
// library flags are binding.gyp's (scripts/binding-gyp.js). libc++ is linked in
// statically, so a Linux build needs nothing from the system but libc, at the
// glibc version named in the target (x86_64-linux-gnu.2.17). Node-API symbols
// stay for Node to provide: undefined on Linux, dynamic_lookup on macOS, and on
// Windows imported from node.exe through an import library made from
// node-api-headers' def file.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { readBindingGyp, resolveTarget } = require('./binding-gyp');
const { zigPath } = require('./zig');

const root = path.join(__dirname, '..');
const ADDON = 'fused_attention';

// GCC tuning flags clang does not accept; clang's x86-64 tuning never splits unaligned 256-bit accesses.
const GCC_ONLY_FLAGS = new Set(['-mno-avx256-split-unaligned-load', '-mno-avx256-split-unaligned-store']);
// Added to binding.gyp's flags for clang: binding.gyp's GCC-only -Wno-* options are not
// warned about; only the addon's entry points are exported (not the static libc++ in it).
const CLANG_FLAGS = ['-Wno-unknown-warning-option', '-fvisibility=hidden', '-fvisibility-inlines-hidden'];

// Only the addon's Node-API entry points are exported on Linux: not the libc++, libc++abi
// and libunwind linked into it, whose _Unwind_* and operator new would otherwise be
// bound to the process's libgcc_s and libstdc++ copies.
const LINUX_EXPORTS = '{ global: napi_register_module_v*; node_api_module_get_api_version_v*; local: *; };\n';

/**
 * zig 0.11 builds libc++abi for any glibc as if glibc had __cxa_thread_atexit_impl
 * (2.18+), leaving a strong undefined reference a 2.17 glibc cannot resolve. Below
 * 2.18 the addon gets zig's own cxa_thread_atexit.cpp compiled the way zig 0.12
 * does it (ziglang/zig#18171): a weak reference and libc++abi's fallback. Linked
 * ahead of libc++abi.a, it keeps that archive's copy out.
 */
function glibcCompatCompiles(zig, triple, buildDir) {
  const glibc = /-gnu\.(\d+)\.(\d+)$/.exec(triple);
  if (!glibc || Number(glibc[1]) > 2 || Number(glibc[2]) >= 18) return [];
  const libDir = path.resolve(JSON.parse(run(zig, ['env'])).lib_dir);
  const object = path.join(buildDir, 'cxa_thread_atexit.o');
  const flags = ['-O3', '-fPIC', '-funwind-tables', '-std=c++20', '-fvisibility=hidden', '-D_LIBCXXABI_BUILDING_LIBRARY',
    '-D_LIBCPP_BUILDING_LIBRARY', '-D_LIBCXXABI_DISABLE_VISIBILITY_ANNOTATIONS', `-I${path.join(libDir, 'libcxxabi', 'include')}`];
  return [['c++', '-target', triple, ...flags, '-c', path.join(libDir, 'libcxxabi', 'src', 'cxa_thread_atexit.cpp'), '-o', object]];
}

/** The Node-API headers: the running Node's own (as node-gyp uses), else node-api-headers'. */
function nodeApiIncludeDir() {
  const own = path.resolve(process.execPath, '..', '..', 'include', 'node');
  if (fs.existsSync(path.join(own, 'node_api.h'))) return own;
  return require('node-api-headers').include_dir;
}

/** How Node-API's symbols reach the linked addon, per OS (gyp's OS names). */
function nodeApiLinkFlags(zig, triple, gypOs, buildDir) {
  if (gypOs === 'mac') return ['-undefined', 'dynamic_lookup'];
  if (gypOs === 'win') {
    const importLib = path.join(buildDir, 'node.lib');
    const { def_paths: defs } = require('node-api-headers');
    run(zig, ['dlltool', '-d', defs.node_api_def, '-l', importLib, '-m', triple.startsWith('aarch64') ? 'arm64' : 'i386:x86-64']);
    return [importLib];
  }
  // Linux: the symbols resolve against the node executable when it loads the addon
  // (zig's default for shared libraries; said here so it stays so).
  const exports = path.join(buildDir, 'exports.map');
  fs.writeFileSync(exports, LINUX_EXPORTS);
  return ['-Wl,-z,undefs', `-Wl,--version-script=${exports}`];
}

function run(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')}\n${result.stdout}${result.stderr}`);
  return result.stdout + result.stderr;
}

/** Runs the commands with at most `jobs` at once; rejects with the first failure's output. */
function runAll(command, argLists, jobs, onOutput) {
  let next = 0;
  let failed = null;
  const worker = async () => {
    while (next < argLists.length && !failed) {
      const args = argLists[next++];
      const output = await new Promise((resolve, reject) => {
        const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.on('data', (chunk) => (text += chunk));
        child.stderr.on('data', (chunk) => (text += chunk));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`zig ${args.join(' ')}\n${text}`))));
      }).catch((err) => {
        failed = failed ?? err;
        return '';
      });
      if (output) onOutput(output);
    }
  };
  return Promise.all(Array.from({ length: Math.min(jobs, argLists.length) }, worker)).then(() => {
    if (failed) throw failed;
  });
}

/**
 * Builds the addon for `triple` (zig's target, e.g. x86_64-linux-gnu.2.17), whose OS and
 * architecture in gyp's words are `gypOs` ('linux', 'mac', 'win') and `arch` ('x64',
 * 'arm64'), and copies it to `output` (null: compile and link only, keep nothing).
 * Returns the compiler's warnings (empty when clean).
 */
async function buildAddon({ triple, gypOs, arch, output = null, jobs = os.availableParallelism(), log = console.log }) {
  const zig = zigPath();
  const addon = resolveTarget(readBindingGyp(), ADDON, { os: gypOs, arch });
  const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), `fa-zig-${triple}-`));
  try {
    const nodeApi = nodeApiIncludeDir();
    const objects = [];
    const compiles = [];
    for (const target of [addon, ...addon.dependencies]) {
      const flags = [
        ...target.cflags.filter((flag) => !GCC_ONLY_FLAGS.has(flag)),
        ...CLANG_FLAGS,
        ...target.defines.map((define) => `-D${define}`),
        ...target.includeDirs.map((dir) => `-I${path.resolve(root, dir)}`),
        `-I${nodeApi}`,
      ];
      fs.mkdirSync(path.join(buildDir, target.name));
      for (const source of target.sources) {
        const object = path.join(buildDir, target.name, `${path.basename(source)}.o`);
        objects.push(object);
        compiles.push(['c++', '-target', triple, ...flags, '-c', path.resolve(root, source), '-o', object]);
      }
    }
    for (const compile of glibcCompatCompiles(zig, triple, buildDir)) {
      compiles.push(compile);
      objects.push(compile[compile.length - 1]);
    }
    const warnings = [];
    await runAll(zig, compiles, jobs, (text) => warnings.push(text));

    const linked = path.join(buildDir, `${ADDON}.node`);
    const link = [
      'c++', '-target', triple, '-shared', '-O3', '-s', '-o', linked, ...objects,
      ...addon.ldflags, ...addon.libraries, ...nodeApiLinkFlags(zig, triple, gypOs, buildDir),
    ];
    const linkOutput = run(zig, link);
    if (linkOutput.trim()) warnings.push(linkOutput);
    if (output) {
      fs.mkdirSync(path.dirname(output), { recursive: true });
      fs.copyFileSync(linked, output);
    }
    for (const text of warnings) log(text.trimEnd());
    return { warnings, size: fs.statSync(linked).size };
  } finally {
    fs.rmSync(buildDir, { recursive: true, force: true });
  }
}

module.exports = { buildAddon };
