// What the host says about its memory (engine/base layer). Stateless;
// thread-safe.
#ifndef TERRASERVE_ENGINE_BASE_MEMORY_INFO_H_
#define TERRASERVE_ENGINE_BASE_MEMORY_INFO_H_

#include <cstdint>

namespace terraserve {

// Bytes the kernel estimates can be allocated without swapping
// (MemAvailable in /proc/meminfo), or -1 where that is not known. A container's
// cgroup limit may be lower: this is the host's view.
int64_t AvailableMemoryBytes();

}  // namespace terraserve

#endif  // TERRASERVE_ENGINE_BASE_MEMORY_INFO_H_
