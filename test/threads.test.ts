/**
 * The default size of the native kernel pool: the CPUs this process may keep busy,
 * min(affinity mask, ceil(cgroup CPU quota)), unless FUSED_ATTENTION_THREADS says
 * otherwise. Each case starts a child Node so the pool is sized at its first use.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAddon } from '../lib/backend';

const root = path.join(__dirname, '..');
const hasNative = nativeAddon() !== null;
const printThreads = `process.stdout.write(String(require(${JSON.stringify(root)}).backend().threads))`;

function threadsOf(prefix: string[], env: Record<string, string | undefined> = {}): string {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, FUSED_ATTENTION_BACKEND: 'native', ...env };
  if (!('FUSED_ATTENTION_THREADS' in env)) delete childEnv.FUSED_ATTENTION_THREADS;
  const [cmd, ...args] = [...prefix, process.execPath, '-e', printThreads];
  const r = spawnSync(cmd, args, { env: childEnv, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

function affinityCount(): number {
  // Linux: the mask this process runs with (what a child inherits).
  const r = spawnSync('nproc', [], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : os.availableParallelism();
}

const hasTaskset = process.platform === 'linux' && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

// A cgroup v1 cpu controller we may write to (root, a writable /sys/fs/cgroup/cpu),
// or cgroup v2 with the cpu controller delegated to a writable cgroup: else skip.
function cgroupDir(): { dir: string; version: 1 | 2 } | null {
  if (process.platform !== 'linux') return null;
  for (const mount of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
    const dir = path.join(mount, `fused-attention-test-${process.pid}`);
    try {
      fs.mkdirSync(dir);
      return { dir, version: 1 };
    } catch {
      /* not v1, or not allowed */
    }
  }
  try {
    const controllers = fs.readFileSync('/sys/fs/cgroup/cgroup.subtree_control', 'utf8');
    if (!controllers.split(/\s+/).includes('cpu')) return null;
    const dir = path.join('/sys/fs/cgroup', `fused-attention-test-${process.pid}`);
    fs.mkdirSync(dir);
    return { dir, version: 2 };
  } catch {
    return null;
  }
}

describe.skipIf(!hasNative)('default thread count', () => {
  it('is the affinity count on an unrestricted process', () => {
    const quota = cgroupQuotaOfSelf();
    const expected = quota > 0 ? Math.min(affinityCount(), Math.ceil(quota)) : affinityCount();
    expect(threadsOf([])).toBe(String(expected));
  });

  it.skipIf(!hasTaskset)('follows the CPU affinity mask (taskset -c 0 gives 1 thread)', () => {
    expect(threadsOf(['taskset', '-c', '0'])).toBe('1');
  });

  it.skipIf(!hasTaskset)('FUSED_ATTENTION_THREADS still overrides it', () => {
    expect(threadsOf(['taskset', '-c', '0'], { FUSED_ATTENTION_THREADS: '3' })).toBe('3');
  });

  const cgroup = cgroupDir();
  it.skipIf(!cgroup)(`follows a cgroup CPU quota (ceil(quota / period))${cgroup ? '' : ': skipped, no writable cgroup cpu controller here'}`, () => {
    const { dir, version } = cgroup!;
    try {
      if (version === 1) {
        fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), '100000');
        fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), '50000');
      } else {
        fs.writeFileSync(path.join(dir, 'cpu.max'), '50000 100000');
      }
      // The shell moves itself into the cgroup, then becomes Node.
      const procs = path.join(dir, 'cgroup.procs');
      expect(threadsOf(['sh', '-c', `echo $$ > ${procs} && exec "$0" "$@"`])).toBe('1');
      if (version === 1) fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), '150000');
      else fs.writeFileSync(path.join(dir, 'cpu.max'), '150000 100000');
      expect(threadsOf(['sh', '-c', `echo $$ > ${procs} && exec "$0" "$@"`])).toBe(String(Math.min(2, affinityCount())));
    } finally {
      fs.rmdirSync(dir);
    }
  });
});

// The quota this test process itself runs under (0: none), read the way the addon does.
function cgroupQuotaOfSelf(): number {
  try {
    const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
    const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('cpu'));
    if (v1) {
      const rel = v1.split(':')[2];
      for (const mount of ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu']) {
        for (const dir of [path.join(mount, rel), mount]) {
          try {
            const q = Number(fs.readFileSync(path.join(dir, 'cpu.cfs_quota_us'), 'utf8'));
            const p = Number(fs.readFileSync(path.join(dir, 'cpu.cfs_period_us'), 'utf8'));
            return q > 0 && p > 0 ? q / p : 0;
          } catch {
            /* next */
          }
        }
      }
      return 0;
    }
    const v2 = lines.find((l) => l.startsWith('0::'));
    if (!v2) return 0;
    let dir = v2.slice(3);
    let best = 0;
    for (;;) {
      try {
        const [q, p] = fs.readFileSync(path.join('/sys/fs/cgroup', dir, 'cpu.max'), 'utf8').trim().split(/\s+/);
        if (q !== 'max' && Number(p) > 0) best = best === 0 ? Number(q) / Number(p) : Math.min(best, Number(q) / Number(p));
      } catch {
        /* none at this level */
      }
      if (dir === '/' || dir === '') break;
      dir = path.dirname(dir);
    }
    return best;
  } catch {
    return 0;
  }
}
