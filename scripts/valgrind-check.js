#!/usr/bin/env node
// Runs scripts/exercise-api.js --size tiny under valgrind memcheck, once per
// ISA valgrind can run, against the addon in ./build (or prebuilds/) and the
// current lib/ compiled to a temporary dist/. Exits 1 on any memcheck error
// or wrong result.
//
//   node scripts/valgrind-check.js            # ~15 s per ISA
//
// Node runs with --jitless: V8's JIT writes and patches code at run time,
// which valgrind follows only slowly. No suppressions are needed today; put
// any in scripts/valgrind.supp and they are used. Valgrind (3.19) does not
// emulate AVX-512, and its virtual CPU reports no AVX-512, so the addon only
// offers avx2 and scalar there; AVX-512 is covered by scripts/sanitize.sh.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fused-attention-valgrind-'));
try {
  // A package root for the compiled lib/: backend.ts finds the addon from the nearest package.json.
  for (const name of ['package.json', 'build', 'prebuilds', 'node_modules']) {
    if (fs.existsSync(path.join(root, name))) fs.symlinkSync(path.join(root, name), path.join(work, name));
  }
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(work, 'dist')], {
    stdio: 'inherit',
  });

  const supp = path.join(__dirname, 'valgrind.supp');
  const valgrindArgs = ['--tool=memcheck', '--error-exitcode=1', '--track-origins=yes', '--leak-check=full', '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite', ...(fs.existsSync(supp) ? [`--suppressions=${supp}`] : [])];
  const exercise = [path.join(__dirname, 'exercise-api.js'), '--dist', path.join(work, 'dist'), '--size', 'tiny'];

  // Which ISAs the addon offers under valgrind's virtual CPU.
  const probe = spawnSync('valgrind', ['--tool=none', '-q', process.execPath, '--jitless', '-e', `const {nativeAddon}=require(${JSON.stringify(path.join(work, 'dist', 'backend.js'))}); const a=nativeAddon(); console.log(JSON.stringify(a ? a.info().supportedIsas : ['js']))`], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`valgrind probe failed: ${probe.stderr}`);
  const isas = JSON.parse(probe.stdout.trim().split('\n').pop());

  let failed = 0;
  for (const isa of isas) {
    const start = Date.now();
    const run = spawnSync('valgrind', [...valgrindArgs, process.execPath, '--jitless', ...exercise, '--isa', isa === 'js' ? 'all' : isa], { encoding: 'utf8' });
    const summary = (run.stderr.match(/ERROR SUMMARY: [^\n]*/) || ['no ERROR SUMMARY'])[0];
    const checks = (run.stdout.match(/exercise-api: \d+ checks, \d+ failures/) || ['no result'])[0];
    console.log(`valgrind ${isa}: ${summary}; ${checks}; exit ${run.status}; ${((Date.now() - start) / 1000).toFixed(0)} s`);
    if (run.status !== 0) {
      failed++;
      process.stdout.write(run.stdout);
      process.stderr.write(run.stderr);
    }
  }
  process.exitCode = failed === 0 ? 0 : 1;
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
