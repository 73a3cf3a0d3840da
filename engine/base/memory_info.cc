#include "engine/base/memory_info.h"

#include <fstream>
#include <string>

namespace terraserve {

int64_t AvailableMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t value = 0;
  while (meminfo >> key >> value) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") return value * 1024;  // reported in kB
  }
  return -1;
}

}  // namespace terraserve
