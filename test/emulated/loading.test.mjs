// How the package loads on this machine: the native backend from the prebuild
// of this platform (arm64: prebuilds/linux-arm64/node.napi.glibc.node, NEON
// kernels; Windows: prebuilds/win32-x64/node.napi.node), the ISA table, and the
// FUSED_ATTENTION_ISA override.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { addon, addonFile, fa, packageDir, restoreMode, runNode } from './helpers.mjs';
import { randomTensor as tensor } from '../oracle/inputs.mjs';

after(restoreMode());

// The ISAs this CPU has, best first, when the runner knows them (test:win reads /proc/cpuinfo).
const expectedIsas = process.env.FA_EXPECT_ISAS?.split(',');
// The best ISA this machine should get; without FA_EXPECT_ISAS x64 trusts the table's first entry.
const bestIsa = process.arch === 'arm64' ? 'neon' : (expectedIsas?.[0] ?? addon?.info().supportedIsas[0]);

describe('loading', () => {
  test('backend() is native, with the best ISA of this architecture', () => {
    const info = fa.backend();
    assert.equal(info.name, 'native', `reason: ${info.reason}`);
    assert.equal(info.isa, bestIsa);
    assert.ok(info.threads >= 1);
  });

  test('the addon is the one node-gyp-build picks (on arm64 and Windows: that platform\'s prebuild)', () => {
    const relative = path.relative(packageDir, addonFile).split(path.sep).join('/');
    if (process.platform === 'win32') assert.equal(relative, 'prebuilds/win32-x64/node.napi.node');
    else if (process.arch === 'arm64') assert.equal(relative, 'prebuilds/linux-arm64/node.napi.glibc.node');
    else assert.match(relative, /^(build\/Release\/fused_attention\.node|prebuilds\/linux-x64\/node\.napi\.glibc\.node)$/);
  });

  test('supportedIsas: neon then scalar on arm64, FA_EXPECT_ISAS when set; scalar last everywhere', () => {
    const { supportedIsas } = addon.info();
    if (expectedIsas) assert.deepEqual(supportedIsas, expectedIsas);
    if (process.arch === 'arm64') assert.deepEqual(supportedIsas, ['neon', 'scalar']);
    else assert.ok(!supportedIsas.includes('neon'));
    assert.equal(supportedIsas.at(-1), 'scalar');
  });

  test('setIsa refuses an ISA this build or CPU does not have, and changes nothing', () => {
    const foreign = process.arch === 'arm64' ? 'avx2' : 'neon';
    const before = addon.info().isa;
    assert.throws(() => addon.setIsa(foreign), new RangeError(`fused-attention (native): ISA '${foreign}' is not supported on this CPU`));
    assert.equal(addon.info().isa, before);
    addon.setIsa('scalar');
    assert.equal(fa.backend().isa, 'scalar');
    addon.setIsa(before);
  });

  test('explain() reports the ISA in use', () => {
    const q = tensor([1, 2, 33, 16], 1);
    assert.equal(fa.explain(q, q, q).isa, bestIsa);
    assert.equal(fa.explain(q, q, q).backend, 'native');
  });

  test('FUSED_ATTENTION_ISA=scalar forces the scalar kernel; an unknown name keeps the best', () => {
    const script = `const fa = require(${JSON.stringify(packageDir)}); const q = { data: new Float32Array(64).fill(0.5), shape: [1, 1, 4, 16] };
      console.log(JSON.stringify({ isa: fa.backend().isa, out: Array.from(fa.attention(q, q, q).data.slice(0, 2)) }));`;
    const forced = JSON.parse(runNode(script, { FUSED_ATTENTION_ISA: 'scalar' }));
    assert.deepEqual(forced, { isa: 'scalar', out: [0.5, 0.5] });
    const unknown = JSON.parse(runNode(script, { FUSED_ATTENTION_ISA: 'sve2' }));
    assert.equal(unknown.isa, bestIsa);
  });
});
