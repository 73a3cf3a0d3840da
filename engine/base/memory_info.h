// What the host and the process's memory cgroup say about memory (engine/base
// layer). Stateless; thread-safe.
#ifndef TERRASERVE_ENGINE_BASE_MEMORY_INFO_H_
#define TERRASERVE_ENGINE_BASE_MEMORY_INFO_H_

#include <cstdint>
#include <string>
#include <vector>

namespace terraserve {

// Bytes this process can still take: the host's MemAvailable (/proc/meminfo),
// or less where a memory cgroup it is in (a container's limit: cgroup v2's
// memory.max or v1's memory.limit_in_bytes, less its usage) leaves less room.
// -1 where none of these is known.
int64_t AvailableMemoryBytes();

namespace internal {

// MemAvailable in bytes from the text of /proc/meminfo, or -1.
int64_t ParseMemAvailable(const std::string& meminfo);

// limit - usage from a cgroup's limit and usage files' text, or -1 when the
// limit is absent, "max" or v1's "unlimited" (a number near 2^63).
int64_t CgroupRoom(const std::string& limit, const std::string& usage);

// Directories whose memory limit applies to this process, from the text of
// /proc/self/cgroup: the cgroup mounts' roots (a container's own cgroup under
// its namespace) and the process's cgroup below them.
std::vector<std::string> MemoryCgroupDirs(const std::string& proc_cgroup);

}  // namespace internal
}  // namespace terraserve

#endif  // TERRASERVE_ENGINE_BASE_MEMORY_INFO_H_
