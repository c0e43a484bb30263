'use strict';
// `npm run audit:prebuilds`: what each shipped prebuild needs from the machine it loads
// on, checked the way Python's auditwheel checks a manylinux wheel. The README's
// platform table states the floor enforced here.
//
//   Linux (ELF): every versioned symbol it imports is GLIBC_x.y with x.y <= 2.17; no
//     GLIBCXX_/CXXABI_/GCC_ versions (libstdc++, libgcc_s); NEEDED holds only glibc's
//     own libraries; the ELF machine is the directory's architecture.
//   Windows (PE): imports only from NODE.EXE (Node-API), KERNEL32.dll and msvcrt.dll,
//     which every Windows has; no MinGW runtime DLLs (libstdc++-6, libgcc_s_seh-1,
//     libwinpthread-1); the machine is x86-64.
//
//   node scripts/audit-prebuilds.js [FILE...]    the named files, else every prebuild in prebuilds/
//   node scripts/audit-prebuilds.js --require    also fails when a shipped prebuild is missing
//
// Reads the binaries with binutils' readelf and objdump (any ELF machine; PE through
// objdump's pe-x86-64 support, which Debian's binutils has).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const GLIBC_FLOOR = [2, 17];
/** glibc's own shared objects: present wherever glibc is. */
const GLIBC_LIBRARIES = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-(x86-64|aarch64)\.so\.[12])$/;
const WINDOWS_DLLS = new Set(['node.exe', 'kernel32.dll', 'msvcrt.dll']);
const ELF_MACHINES = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' };

function tool(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw new Error(`audit: ${command} not found (binutils): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`audit: ${command} ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

const versionAbove = (version, [major, minor]) => version[0] > major || (version[0] === major && version[1] > minor);

/** The platform and architecture a prebuild is for, from its directory (prebuilds/<platform>-<arch>/). */
function targetOf(file) {
  const [platform, arch] = path.basename(path.dirname(file)).split('-');
  return { platform, arch };
}

function auditElf(file, arch) {
  const problems = [];
  const machine = /Machine:\s+(.*)/.exec(tool('readelf', ['-h', file]))?.[1].trim();
  if (ELF_MACHINES[arch] && machine !== ELF_MACHINES[arch]) problems.push(`machine is ${machine}, expected ${ELF_MACHINES[arch]}`);
  const needed = [...tool('readelf', ['-d', '-W', file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  for (const library of needed) {
    if (!GLIBC_LIBRARIES.test(library)) problems.push(`needs ${library} (only glibc's own libraries may be NEEDED)`);
  }
  // The "Version needs" section: the versions of every library symbol it imports.
  const versions = [...new Set([...tool('readelf', ['-V', '-W', file]).matchAll(/Name: (\S+)\s+Flags:/g)].map((m) => m[1]))];
  let newestGlibc = null;
  for (const name of versions) {
    const glibc = /^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$/.exec(name);
    if (glibc) {
      const version = [Number(glibc[1]), Number(glibc[2])];
      if (!newestGlibc || versionAbove(version, newestGlibc)) newestGlibc = version;
      if (versionAbove(version, GLIBC_FLOOR)) problems.push(`imports ${name} (newer than GLIBC_${GLIBC_FLOOR.join('.')})`);
    } else if (name !== 'GLIBC_PRIVATE') {
      problems.push(`imports ${name} (${/^(GLIBCXX|CXXABI)_/.test(name) ? 'libstdc++' : /^GCC_/.test(name) ? 'libgcc_s' : 'not glibc'})`);
    } else {
      problems.push('imports GLIBC_PRIVATE');
    }
  }
  return { format: `ELF ${machine}`, needed, requires: newestGlibc ? `glibc >= ${newestGlibc.join('.')}` : 'no versioned glibc symbol', problems };
}

function auditPe(file, arch) {
  const problems = [];
  const dump = tool('objdump', ['-p', file]);
  const format = /file format (\S+)/.exec(dump)?.[1];
  if (arch === 'x64' && format !== 'pei-x86-64') problems.push(`format is ${format}, expected pei-x86-64`);
  const needed = [...dump.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]);
  for (const dll of needed) {
    if (!WINDOWS_DLLS.has(dll.toLowerCase())) problems.push(`imports ${dll} (only NODE.EXE, KERNEL32.dll and msvcrt.dll may be imported)`);
  }
  if (!needed.some((dll) => dll.toLowerCase() === 'node.exe')) problems.push('does not import Node-API from NODE.EXE');
  return { format, needed, requires: 'Windows x64, Node-API from node.exe', problems };
}

/**
 * The audit of one prebuild: { format, needed, requires, problems } (problems empty when it
 * passes). The target ({ platform, arch }) is read from its prebuilds/<platform>-<arch>/ directory unless given.
 */
function auditPrebuild(file, { platform, arch } = targetOf(file)) {
  if (platform === 'linux') return auditElf(file, arch);
  if (platform === 'win32') return auditPe(file, arch);
  return { format: 'unknown', needed: [], requires: '', problems: [`no audit rule for ${platform} (only linux and win32 prebuilds are shipped)`] };
}

/** Every prebuild file under prebuilds/. */
function listPrebuilds(dir = path.join(root, 'prebuilds')) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((target) =>
    fs.readdirSync(path.join(dir, target)).filter((name) => name.endsWith('.node')).map((name) => path.join(dir, target, name)),
  );
}

function main(args) {
  const files = args.filter((arg) => !arg.startsWith('--'));
  const targets = files.length > 0 ? files.map((file) => path.resolve(file)) : listPrebuilds();
  let failed = 0;
  if (args.includes('--require')) {
    const { TARGETS, SHIPPED } = require('./prebuild');
    for (const name of SHIPPED) {
      if (!fs.existsSync(path.join(root, TARGETS[name].file))) {
        console.log(`audit: ${TARGETS[name].file} is missing (npm run prebuilds builds it)`);
        failed++;
      }
    }
  }
  if (targets.length === 0) console.log('audit: no prebuilds to audit (npm run prebuilds builds them)');
  for (const file of targets) {
    const { format, needed, requires, problems } = auditPrebuild(file);
    const name = path.relative(root, file);
    console.log(`audit: ${name}: ${problems.length ? 'FAIL' : 'ok'} (${format}; ${requires}; imports from ${needed.join(', ') || 'nothing'})`);
    for (const problem of problems) console.log(`  - ${problem}`);
    if (problems.length) failed++;
  }
  return failed === 0 ? 0 : 1;
}

module.exports = { auditPrebuild, listPrebuilds, GLIBC_FLOOR };

if (require.main === module) {
  try {
    process.exit(main(process.argv.slice(2)));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
