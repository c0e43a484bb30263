// How many CPUs this process may keep busy: the default size of the kernel pool.
#pragma once

namespace fa {

// min(CPUs in this process's affinity mask, ceil(cgroup CPU quota)), at least 1.
// Linux reads sched_getaffinity and the cgroup v2 `cpu.max` of this process's cgroup
// and its ancestors (or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`); elsewhere it is
// std::thread::hardware_concurrency() (Windows: of the process's processor group).
int available_cpus();

}  // namespace fa
