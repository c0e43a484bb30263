/**
 * Worker threads that exit (process.exit() inside, or worker.terminate())
 * with attentionAsync calls still pending: their buffer copies must be freed
 * and their bytes returned to the process-wide 2 GiB budget, and the exit
 * must not wait behind other threads' queued work. Each scenario runs in a
 * child process (test/fixtures/teardown.cjs) against the built addon.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAddon } from '../lib/backend';

const fixture = path.join(__dirname, 'fixtures', 'teardown.cjs');

function runFixture(mode: string): Record<string, unknown> {
  const run = spawnSync(process.execPath, [fixture, mode], { encoding: 'utf8', timeout: 180_000 });
  expect(run.stderr).toBe('');
  expect(run.signal).toBeNull();
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe.runIf(nativeAddon() !== null)('async calls of exiting workers', () => {
  it('free their buffer copies and return their bytes to the pending budget (process.exit, terminate, while running, finished but undelivered)', () => {
    // 8 workers, each with 2 calls holding about 100 MiB of copies (before the fix, RSS grew by ~800 MiB).
    const report = runFixture('leak');
    expect(report.codes).toEqual([0, 1, 0, 0, 0, 1, 0, 0]);
    // The bound leaves room for allocator caches (ASan's quarantine: 256 MiB).
    expect(report.rssGrowthMiB as number).toBeLessThan(384);
    expect(report.pendingBytes).toBe(0);
    expect(report.pendingCalls).toBe(0);
    expect(report.laterOut).toBe(0.25);
    expect(report.finalPending).toMatchObject({ pendingBytes: 0, pendingCalls: 0 });
  });

  it('do not wait for 30 long calls of the main thread queued before them', () => {
    const report = runFixture('prompt');
    const mainMs = report.mainMs as number;
    const exits = report.exits as Record<'exit' | 'terminate', { ms: number; code: number }>;
    expect(exits.exit.code).toBe(0);
    expect(exits.terminate.code).toBe(1);
    for (const way of ['exit', 'terminate'] as const) {
      expect(exits[way].ms, `${way} took ${exits[way].ms} ms, the main calls ${mainMs} ms`).toBeLessThan(Math.min(2000, mainMs / 4));
    }
    expect(report).toMatchObject({ pendingBytes: 0, pendingCalls: 0 });
  });
});
