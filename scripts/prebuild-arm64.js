'use strict';
// `npm run prebuild:arm64`: cross-compiles prebuilds/linux-arm64/node.napi.glibc.node
// on an x86-64 Linux host with Debian's aarch64-linux-gnu toolchain
// (apt-get install g++-aarch64-linux-gnu). It is scripts/prebuild.js (staging copy,
// so build/ is untouched) with --arch arm64 and the cross tools for compiler,
// linker, archiver and strip. The Node-API headers are the same for every
// architecture, so the running Node's own headers serve.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const triple = 'aarch64-linux-gnu';
const tool = (name) => `${triple}-${name}`;

function requireTool(name) {
  const found = spawnSync(name, ['--version'], { stdio: 'ignore' });
  if (found.error || found.status !== 0) {
    console.error(`prebuild:arm64: ${name} not found; install it with: apt-get install g++-aarch64-linux-gnu`);
    process.exit(1);
  }
}

function run(args, env) {
  const result = spawnSync(process.execPath, [path.join(__dirname, 'prebuild.js'), ...args, ...process.argv.slice(2)], { stdio: 'inherit', env });
  if (result.error) throw result.error;
  process.exit(result.status ?? 1);
}

if (process.platform !== 'linux') {
  console.error(`prebuild:arm64: cross-building needs a Linux host (this is ${process.platform})`);
  process.exit(1);
}
// On an arm64 Linux host the native compilers build it.
if (process.arch === 'arm64') run([], process.env);
for (const name of ['g++', 'gcc', 'ar', 'strip']) requireTool(tool(name));

// node-gyp's make generator reads CC/CXX/LINK/AR for the target toolset; the
// host toolset (nothing of ours is built for it) keeps the native compilers.
const env = {
  ...process.env,
  CC: tool('gcc'),
  CXX: tool('g++'),
  LINK: tool('g++'),
  AR: tool('ar'),
  CC_host: process.env.CC_host || 'gcc',
  CXX_host: process.env.CXX_host || 'g++',
};
run(['--arch=arm64', `--strip-bin=${tool('strip')}`], env);
