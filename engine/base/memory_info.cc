#include "engine/base/memory_info.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

namespace terraserve {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The number that starts `text`, or -1.
int64_t LeadingNumber(const std::string& text) {
  std::istringstream in(text);
  int64_t value = -1;
  if (!(in >> value)) return -1;
  return value;
}

}  // namespace

namespace internal {

int64_t ParseMemAvailable(const std::string& meminfo) {
  std::istringstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    const int64_t kb = LeadingNumber(line.substr(13));
    return kb < 0 ? -1 : kb * 1024;
  }
  return -1;
}

int64_t CgroupRoom(const std::string& limit, const std::string& usage) {
  const int64_t max = LeadingNumber(limit), used = LeadingNumber(usage);
  // v1 writes "no limit" as the largest page multiple below 2^63.
  if (max < 0 || max >= (int64_t(1) << 60) || used < 0) return -1;
  return std::max<int64_t>(0, max - used);
}

std::vector<std::string> MemoryCgroupDirs(const std::string& proc_cgroup) {
  std::vector<std::string> dirs = {"/sys/fs/cgroup", "/sys/fs/cgroup/memory"};
  std::istringstream in(proc_cgroup);
  std::string line;
  while (std::getline(in, line)) {
    // "0::/path" (v2) or "4:memory:/path" (v1, maybe "4:cpu,memory:/path").
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1),
                      path = line.substr(b + 1);
    if (path.empty() || path == "/") continue;
    if (controllers.empty()) {
      dirs.push_back("/sys/fs/cgroup" + path);
    } else if (("," + controllers + ",").find(",memory,") !=
               std::string::npos) {
      dirs.push_back("/sys/fs/cgroup/memory" + path);
    }
  }
  return dirs;
}

}  // namespace internal

int64_t AvailableMemoryBytes() {
  int64_t available = internal::ParseMemAvailable(ReadFile("/proc/meminfo"));
  auto take = [&](const std::string& limit, const std::string& usage) {
    const int64_t room = internal::CgroupRoom(ReadFile(limit), ReadFile(usage));
    if (room >= 0) available = available < 0 ? room : std::min(available, room);
  };
  // The process's own memory cgroup, by its path in /proc/self/cgroup, and
  // the mount's root, which a container's namespace makes its own cgroup.
  for (const std::string& dir :
       internal::MemoryCgroupDirs(ReadFile("/proc/self/cgroup"))) {
    take(dir + "/memory.max", dir + "/memory.current");
    take(dir + "/memory.limit_in_bytes", dir + "/memory.usage_in_bytes");
  }
  return available;
}

}  // namespace terraserve
