'use strict';
// `npm run prebuild`: prebuildify --napi --strip --tag-libc, writing
// prebuilds/<platform>-<arch>/node.napi.<libc>.node in this package. One N-API
// binary serves every supported Node version. It is compiled in a staging copy
// (binding.gyp, native/, package.json) so build/ here is never touched: a dev
// build, or a test suite that has it loaded, keeps working meanwhile.
// Extra arguments go to prebuildify (e.g. --arch, --quiet).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'fused-attention-prebuild-'));

try {
  for (const entry of ['binding.gyp', 'package.json', 'native']) {
    fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true });
  }
  // binding.gyp asks node-addon-api for its include dir from the staging directory.
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'dir');

  // Target the running Node (prebuildify's default is the newest one node-abi knows) and,
  // unless configured otherwise, its own headers, so no header download is needed.
  const env = { ...process.env, JOBS: process.env.JOBS || 'max' };
  const prefix = path.resolve(process.execPath, '..', '..');
  if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
    env.npm_config_nodedir = prefix;
  }
  const prebuildify = require.resolve('prebuildify/bin.js');
  // --name node.napi: the conventional file name, node.napi.<libc>.node, rather than the package name.
  const args = [prebuildify, '--napi', '--strip', '--tag-libc', '--name=node.napi', `--target=${process.versions.node}`, '--cwd', stage, '--out', root];
  const result = spawnSync(process.execPath, [...args, ...process.argv.slice(2)], { stdio: 'inherit', env });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`prebuild: prebuildify exited with ${result.status ?? result.signal}`);

  for (const dir of fs.readdirSync(path.join(root, 'prebuilds'))) {
    for (const file of fs.readdirSync(path.join(root, 'prebuilds', dir))) {
      const where = path.join(root, 'prebuilds', dir, file);
      // An untagged Linux binary would match either libc; every one must name its own.
      if (dir.startsWith('linux-') && !/\.(glibc|musl)\./.test(file)) {
        fs.rmSync(where);
        console.log(`prebuild: removed prebuilds/${dir}/${file} (no libc tag)`);
      } else {
        console.log(`prebuild: prebuilds/${dir}/${file} (${(fs.statSync(where).size / 1024).toFixed(0)} KiB)`);
      }
    }
  }
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}
