#include "engine/base/huge_page_allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <numeric>

namespace terraserve {
namespace {

TEST(HugePageAllocatorTest, AlignsLargeArraysToHugePagesAndHoldsValues) {
  HugePageVector<float> big(3 << 20);  // 12 MiB
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % (2 << 20), 0u);
  std::iota(big.begin(), big.end(), 0.0f);
  EXPECT_EQ(big[12345], 12345.0f);
  HugePageVector<float> small(10, 1.5f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % 64, 0u);
  EXPECT_EQ(small[9], 1.5f);
  small.assign(big.begin(), big.begin() + 1000);  // regrows through it too
  EXPECT_EQ(small[999], 999.0f);
}

TEST(HugePageAllocatorTest, RawAllocationsForTheKvCache) {
  // A size that is no multiple of the huge page still gets the whole run.
  const size_t bytes = (size_t(5) << 20) + 12;
  std::unique_ptr<char[], FreeDeleter> p(
      static_cast<char*>(AllocateHugePages(bytes)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p.get()) % kHugePage, 0u);
  p[0] = 1;
  p[bytes - 1] = 2;
  EXPECT_EQ(p[0] + p[bytes - 1], 3);
  std::unique_ptr<char[], FreeDeleter> small(
      static_cast<char*>(AllocateHugePages(100)));
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.get()) % 64, 0u);
}

}  // namespace
}  // namespace terraserve
