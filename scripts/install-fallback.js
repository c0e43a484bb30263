'use strict';
// Second half of the install script, `node-gyp-build || node scripts/install-fallback.js`:
// runs only when no prebuild matched and the source build failed. The install still
// succeeds and the package runs its WebAssembly backend when the package ships it, else
// its pure-TypeScript one (backend() says so, and a warning at load time says how to fix
// it). An explicit --build-from-source still fails.
const fs = require('node:fs');
const path = require('node:path');

const target = `${process.platform}-${process.arch}`;
const fallback = fs.existsSync(path.join(__dirname, '..', 'dist', 'fused_attention.wasm'))
  ? 'the WebAssembly backend (slower than native)'
  : 'the slower pure-TypeScript backend';

if (process.env.npm_config_build_from_source === 'true') {
  console.error(`fused-attention: --build-from-source was requested but the source build failed for ${target} (see the node-gyp output above).`);
  process.exit(1);
}
const silent = process.env.FUSED_ATTENTION_SILENT;
if (silent === undefined || silent === '' || silent === '0') {
  console.warn(
    `fused-attention: no prebuilt binary for ${target} and the source build failed; installed with ${fallback}. ` +
      'To build the addon, install Python 3, make and a C++17 compiler, then run `npm rebuild fused-attention --build-from-source`.',
  );
}
