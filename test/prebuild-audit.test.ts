/**
 * What the shipped prebuilds need from a user's machine (scripts/audit-prebuilds.js,
 * auditwheel's check for this package): Linux ones at most GLIBC_2.17 and nothing of
 * libstdc++/libgcc_s, the Windows one only NODE.EXE, KERNEL32 and msvcrt. The README's
 * platform table states that floor. CI builds every shipped prebuild first
 * (npm run prebuilds), so there each must exist; elsewhere the missing ones are skipped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const load = createRequire(__filename);
const { auditPrebuild, GLIBC_FLOOR } = load('../scripts/audit-prebuilds.js') as {
  auditPrebuild: (file: string, target?: { platform: string; arch: string }) => { needed: string[]; requires: string; problems: string[] };
  GLIBC_FLOOR: number[];
};
const { TARGETS, SHIPPED } = load('../scripts/prebuild.js') as { TARGETS: Record<string, { file?: string }>; SHIPPED: string[] };
const hasBinutils = spawnSync('readelf', ['--version']).status === 0 && spawnSync('objdump', ['--version']).status === 0;
const devBuild = path.join(root, 'build', 'Release', 'fused_attention.node');

describe.skipIf(!hasBinutils)('prebuild audit', () => {
  it('ships linux-x64, linux-arm64 and win32-x64, and states a glibc 2.17 floor', () => {
    expect(SHIPPED).toEqual(['linux-x64', 'linux-arm64', 'win32-x64']);
    expect(GLIBC_FLOOR).toEqual([2, 17]);
  });

  for (const name of SHIPPED) {
    const file = path.join(root, TARGETS[name].file!);
    const present = fs.existsSync(file);
    it.skipIf(!present && !process.env.CI)(`${TARGETS[name].file} passes the audit`, () => {
      expect(present, `${TARGETS[name].file} is missing; npm run prebuilds builds it`).toBe(true);
      const { needed, requires, problems } = auditPrebuild(file);
      expect(problems).toEqual([]);
      expect(needed.length).toBeGreaterThan(0);
      if (name.startsWith('linux-')) {
        expect(requires).toMatch(/^glibc >= 2\.(\d|1[0-7])$/);
        expect(needed.filter((lib) => /stdc\+\+|gcc_s|c\+\+/.test(lib))).toEqual([]);
      } else {
        expect(needed.map((dll) => dll.toLowerCase()).sort()).toEqual(['kernel32.dll', 'msvcrt.dll', 'node.exe']);
      }
    });
  }

  // The audit can fail: the development build, linked by the system g++ against its
  // libstdc++ and this glibc, is what it must refuse.
  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64' || !fs.existsSync(devBuild))('refuses the system-compiler development build', () => {
    const { needed, problems } = auditPrebuild(devBuild, { platform: 'linux', arch: 'x64' });
    expect(needed).toContain('libstdc++.so.6');
    expect(problems).toContain("needs libstdc++.so.6 (only glibc's own libraries may be NEEDED)");
    expect(problems.some((problem) => /^imports GLIBCXX_3\.4/.test(problem))).toBe(true);
  });

  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64' || !fs.existsSync(devBuild))('refuses a binary for another machine than its directory names', () => {
    const { problems } = auditPrebuild(devBuild, { platform: 'linux', arch: 'arm64' });
    expect(problems).toContain('machine is Advanced Micro Devices X86-64, expected AArch64');
  });
});
