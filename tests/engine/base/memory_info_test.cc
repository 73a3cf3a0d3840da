#include "engine/base/memory_info.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace terraserve {
namespace {

TEST(MemoryInfoTest, ParsesMemAvailableInKilobytes) {
  EXPECT_EQ(internal::ParseMemAvailable("MemTotal:       24684136 kB\n"
                                        "MemFree:        21000000 kB\n"
                                        "MemAvailable:   22623108 kB\n"
                                        "Buffers:           12345 kB\n"),
            int64_t(22623108) * 1024);
  EXPECT_EQ(internal::ParseMemAvailable("MemTotal: 1 kB\nMemFree: 1 kB\n"), -1);
  EXPECT_EQ(internal::ParseMemAvailable(""), -1);
}

TEST(MemoryInfoTest, CgroupRoomIsLimitLessUsage) {
  EXPECT_EQ(internal::CgroupRoom("4294967296\n", "1073741824\n"), int64_t(3)
                                                                      << 30);
  EXPECT_EQ(internal::CgroupRoom("100\n", "200\n"), 0);  // over: no room
  // No limit: v2's "max", v1's page-rounded 2^63, or no files at all.
  EXPECT_EQ(internal::CgroupRoom("max\n", "1073741824\n"), -1);
  EXPECT_EQ(internal::CgroupRoom("9223372036854771712\n", "3324440576\n"), -1);
  EXPECT_EQ(internal::CgroupRoom("", ""), -1);
}

TEST(MemoryInfoTest, MemoryCgroupDirsFollowProcSelfCgroup) {
  using ::testing::ElementsAre;
  EXPECT_THAT(internal::MemoryCgroupDirs("0::/\n"),
              ElementsAre("/sys/fs/cgroup", "/sys/fs/cgroup/memory"));
  EXPECT_THAT(
      internal::MemoryCgroupDirs("0::/system.slice/terraserve.service\n"),
      ElementsAre("/sys/fs/cgroup", "/sys/fs/cgroup/memory",
                  "/sys/fs/cgroup/system.slice/terraserve.service"));
  EXPECT_THAT(internal::MemoryCgroupDirs("9:name=systemd:/\n"
                                         "5:devices:/docker/ab\n"
                                         "4:cpu,memory:/docker/ab\n"
                                         "0::/\n"),
              ElementsAre("/sys/fs/cgroup", "/sys/fs/cgroup/memory",
                          "/sys/fs/cgroup/memory/docker/ab"));
}

TEST(MemoryInfoTest, ThisHostReportsSomeMemory) {
  const int64_t available = AvailableMemoryBytes();
  EXPECT_GT(available, int64_t(16) << 20);
}

}  // namespace
}  // namespace terraserve
