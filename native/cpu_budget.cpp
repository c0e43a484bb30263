#include "cpu_budget.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#if defined(__linux__)
#include <sched.h>
#endif

namespace fa {
namespace {

#if defined(__linux__)
int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  return CPU_COUNT(&set);
}

bool read_line(const std::string& path, std::string& line) {
  std::ifstream in(path);
  return bool(std::getline(in, line));
}

// CPUs granted by a quota of `quota` µs per `period` µs (0: no limit).
double quota_cpus(double quota, double period) { return quota > 0 && period > 0 ? quota / period : 0; }

// cgroup v2: "max 100000" (no limit) or "150000 100000" in cpu.max. The tightest
// limit on the way from this cgroup up to the mount root applies.
double cgroup_v2_cpus(const std::string& relative) {
  double best = 0;
  std::string dir = relative;
  for (;;) {
    std::string line;
    if (read_line("/sys/fs/cgroup" + (dir == "/" ? std::string() : dir) + "/cpu.max", line)) {
      std::istringstream fields(line);
      std::string quota;
      double period = 0;
      if (fields >> quota >> period && quota != "max") {
        const double cpus = quota_cpus(std::atof(quota.c_str()), period);
        if (cpus > 0 && (best == 0 || cpus < best)) best = cpus;
      }
    }
    if (dir.empty() || dir == "/") break;
    const size_t slash = dir.find_last_of('/');
    dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
  }
  return best;
}

// cgroup v1: the cpu controller's cpu.cfs_quota_us (-1: no limit) / cpu.cfs_period_us,
// in this process's cgroup under the controller's mount, else at the mount root
// (inside a container's cgroup namespace its own cgroup is the root).
double cgroup_v1_cpus(const std::string& relative) {
  for (const char* mount : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
    for (const std::string& dir : {std::string(mount) + (relative == "/" ? "" : relative), std::string(mount)}) {
      std::string quota, period;
      if (read_line(dir + "/cpu.cfs_quota_us", quota) && read_line(dir + "/cpu.cfs_period_us", period))
        return quota_cpus(std::atof(quota.c_str()), std::atof(period.c_str()));
    }
  }
  return 0;
}

// CPUs the cgroup quota allows (0: no quota found).
double cgroup_cpus() {
  std::ifstream in("/proc/self/cgroup");
  std::string line, v2Path, v1Path;
  bool v1 = false;
  while (std::getline(in, line)) {
    // hierarchy-ID:controller-list:cgroup-path
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2Path = path;
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');)
      if (c == "cpu") v1 = true, v1Path = path;
  }
  if (v1) return cgroup_v1_cpus(v1Path);
  if (!v2Path.empty()) return cgroup_v2_cpus(v2Path);
  return 0;
}
#endif

}  // namespace

int available_cpus() {
  const unsigned hw = std::thread::hardware_concurrency();
  int cpus = hw == 0 ? 1 : int(hw);
#if defined(__linux__)
  const int affinity = affinity_cpus();
  if (affinity > 0 && affinity < cpus) cpus = affinity;
  const double quota = cgroup_cpus();
  if (quota > 0) {
    const int granted = int(std::ceil(quota - 1e-9));
    if (granted < cpus) cpus = granted;
  }
#endif
  return cpus < 1 ? 1 : cpus;
}

}  // namespace fa
