'use strict';
// What a benchmark's record says about its run, in one place: when it ran (date and
// stamp), the command line, the commit, the machine (CPU, cores, CPU flags, Node, the
// package's backend(), load average), and writing it as DIR/NAME.json. bench/run.js's
// results.json, bench/vision.js, bench/linear.js, bench/kv-cache-churn.js,
// bench/backends.js and examples/service/load.js (each with --out DIR) write such
// records; bench/readme.js makes the README's benchmark sections from them. Also the
// machine's CPU-time counters the benchmarks use to tell whether other processes took
// CPU a timed call needed, and the median their tables report.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');

function cpuModel() {
  try {
    const match = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (match) return match[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0] ? os.cpus()[0].model : 'unknown CPU';
}

/** The CPU flags that decide which kernels run. */
function cpuFlags() {
  try {
    const match = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:\s*(.+)$/m);
    const flags = new Set(match ? match[1].split(/\s+/) : []);
    return ['avx512f', 'avx512_bf16', 'avx2', 'fma', 'asimd'].filter((f) => flags.has(f));
  } catch {
    return [];
  }
}

/** Cores this process may run on. */
function coreCount() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** The checkout's commit (with -dirty), so a README table can name the code it measured. */
function gitCommit() {
  const git = spawnSync('git', ['describe', '--always', '--dirty', '--abbrev=10'], { cwd: ROOT, encoding: 'utf8' });
  return git.status === 0 ? git.stdout.trim() : null;
}

/** A run's date as a directory name: 2026-12-03T09-28-15. */
function stampOf(date) {
  return date.toISOString().replace(/\..*$/, '').replace(/:/g, '-');
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat counts in 1/100 s); null off Linux. */
function machineCpuSeconds() {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = fields[3] + fields[4];
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) process `pid` has used so far, from /proc (in 1/100 s); null off Linux. */
function processCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3, state
    return (Number(fields[11]) + Number(fields[12])) / 100; // fields 14 and 15: utime, stime
  } catch {
    return null;
  }
}

/**
 * Share of the machine's CPU time that other processes used while `during` ran: busy CPU
 * time of the machine minus this process's own (and that of the `children` pids, the
 * processes the measurement runs in), over the available CPU time.
 */
async function otherLoadWhile(during, { children = [] } = {}) {
  const childrenCpu = () => children.reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? NaN), 0);
  const machineBefore = machineCpuSeconds();
  const ownBefore = process.cpuUsage();
  const childrenBefore = childrenCpu();
  const value = await during();
  const machineAfter = machineCpuSeconds();
  const own = process.cpuUsage(ownBefore);
  const childrenUsed = childrenCpu() - childrenBefore;
  if (!machineBefore || !machineAfter || Number.isNaN(childrenUsed)) return { value, otherLoad: null };
  const available = machineAfter.total - machineBefore.total;
  const others = machineAfter.busy - machineBefore.busy - (own.user + own.system) / 1e6 - childrenUsed;
  return { value, otherLoad: available > 0 ? Math.min(1, Math.max(0, others / available)) : null };
}

/**
 * Starts the record of a run of the script `file` (its path; the command line names it
 * relative to the repository): date, stamp, command line and commit now; `machine` with
 * the load average now (and the package's backend(), when given: { name, isa, threads }).
 * `write(dir, name, fields)` adds the wall time and the load average at the end and writes
 * `{ date, stamp, command, commit, wallSeconds, machine, ...fields }` to DIR/NAME; a script
 * may add to `machine` before.
 */
function startRecord(file, { argv = process.argv.slice(2), backend } = {}) {
  const started = new Date();
  const script = path.relative(ROOT, file).split(path.sep).join('/');
  const head = { date: started.toISOString(), stamp: stampOf(started), command: `node ${script} ${argv.join(' ')}`.trim(), commit: gitCommit() };
  const machine = {
    cpu: cpuModel(),
    cores: coreCount(),
    cpuFlags: cpuFlags(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    ...(backend ? { backend: { name: backend.name, isa: backend.isa, threads: backend.threads } } : {}),
    loadBefore: os.loadavg()[0],
  };
  /** The record as it stands now (wall time and load average so far) with `fields`. */
  const finish = (fields) => {
    machine.loadAfter = os.loadavg()[0];
    return { ...head, wallSeconds: (Date.now() - started.getTime()) / 1000, machine, ...fields };
  };
  /** finish(fields), written to DIR/NAME (DIR created); returns the record. */
  const write = (dir, name, fields) => {
    const record = finish(fields);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, name), `${JSON.stringify(record, null, 2)}\n`);
    return record;
  };
  return { ...head, machine, finish, write };
}

/** The median of `values` (the mean of the middle two for an even count). */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

module.exports = { startRecord, machineCpuSeconds, otherLoadWhile, median };
