/**
 * Buffers taken away from a pending attentionAsync call (transferred and then
 * garbage collected, or a resizable buffer shrunk to 0) must not crash the
 * process: async calls work on private copies. Each scenario runs in a child
 * process (scripts/detach-in-flight-probe.js) against the built dist/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAddon } from '../lib/backend';

const root = path.join(__dirname, '..');

describe.runIf(nativeAddon() !== null && existsSync(path.join(root, 'dist', 'index.js')))('buffers detached while attentionAsync runs', () => {
  it('transfer and shrink both settle without crashing the process', () => {
    const run = spawnSync(process.execPath, ['--expose-gc', path.join(root, 'scripts', 'detach-in-flight-probe.js')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.stdout).toContain('transfer: resolved');
    expect(run.stdout).toContain('shrink: resolved');
    expect(run.status).toBe(0);
  });
});
