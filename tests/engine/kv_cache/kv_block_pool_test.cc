#include "engine/kv_cache/kv_block_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "engine/base/memory_info.h"
#include "tests/testing/status_matchers.h"

namespace terraserve::engine {
namespace {

using ::terraserve::testing::StatusIs;
using ::testing::HasSubstr;

TEST(KvBlockPoolTest, LeasesReturnBlocksWhenDestroyed) {
  ASSERT_OK_AND_ASSIGN(auto pool, KvBlockPool::Create(10, 4, 2, 8));
  EXPECT_EQ(pool->BlocksFor(1), 1);
  EXPECT_EQ(pool->BlocksFor(4), 1);
  EXPECT_EQ(pool->BlocksFor(5), 2);
  {
    ASSERT_OK_AND_ASSIGN(KvLease a, pool->Reserve(17));  // 5 blocks
    EXPECT_EQ(a.blocks().size(), 5u);
    EXPECT_EQ(a.capacity_tokens(), 20);
    EXPECT_EQ(pool->free_blocks(), 5);
    ASSERT_OK_AND_ASSIGN(KvLease b, pool->Reserve(20));
    EXPECT_EQ(pool->free_blocks(), 0);
    std::set<int32_t> all(a.blocks().begin(), a.blocks().end());
    all.insert(b.blocks().begin(), b.blocks().end());
    EXPECT_EQ(all.size(), 10u);  // no block handed out twice
    EXPECT_THAT(pool->Reserve(1), StatusIs(absl::StatusCode::kResourceExhausted,
                                           HasSubstr("need 1 blocks, 0 free")));
    KvLease moved = std::move(b);  // moving keeps exactly one owner
    EXPECT_EQ(pool->free_blocks(), 0);
  }
  EXPECT_EQ(pool->free_blocks(), 10);
}

TEST(KvBlockPoolTest, EveryPageIsResidentFromCreation) {
  // 16 MiB: past malloc's heap, so untouched pages would not be resident.
  ASSERT_OK_AND_ASSIGN(auto pool, KvBlockPool::Create(64, 16, 2, 1024));
  const std::vector<int32_t> blocks = {0};
  const uintptr_t start =
      reinterpret_cast<uintptr_t>(pool->View(0, blocks, 64).pool);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = start / page * page;
  const size_t length = start + pool->bytes() - first;
  std::vector<unsigned char> resident((length + page - 1) / page);
  ASSERT_EQ(mincore(reinterpret_cast<void*>(first), length, resident.data()),
            0);
  for (size_t i = 0; i < resident.size(); ++i)
    ASSERT_TRUE(resident[i] & 1) << "page " << i << " not resident";
}

TEST(KvBlockPoolTest, PoolLargerThanAvailableMemoryIsRefused) {
  const int64_t available = AvailableMemoryBytes();
  ASSERT_GT(available, 0);  // Linux reports MemAvailable
  // 2^20 blocks of 1 MiB (16 positions x 2 sublayers x 2 x 4096 floats): a
  // TiB, far past the host.
  EXPECT_THAT(KvBlockPool::Create(1 << 20, 16, 2, 4096),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("MiB of memory available")));
}

TEST(KvBlockPoolTest, ViewsOfDifferentSublayersAndBlocksDoNotAlias) {
  ASSERT_OK_AND_ASSIGN(auto pool, KvBlockPool::Create(3, 2, 2, 4));
  ASSERT_OK_AND_ASSIGN(KvLease lease, pool->Reserve(6));
  std::set<float*> addresses;
  for (int sub = 0; sub < 2; ++sub) {
    KvView v = pool->View(sub, lease.blocks(), /*head_dim=*/2);
    for (int p = 0; p < 6; ++p) {
      for (int h = 0; h < 2; ++h) {  // d 4 = two heads of 2 floats
        EXPECT_TRUE(addresses.insert(v.key(p, h)).second);
        EXPECT_TRUE(addresses.insert(v.value(p, h)).second);
      }
    }
  }
}

TEST(KvBlockPoolTest, Bf16PoolTakesHalfTheBytesAndStoresRoundedValues) {
  ASSERT_OK_AND_ASSIGN(auto f32, KvBlockPool::Create(3, 2, 2, 4));
  ASSERT_OK_AND_ASSIGN(auto bf16, KvBlockPool::Create(3, 2, 2, 4, true));
  EXPECT_EQ(bf16->block_bytes() * 2, f32->block_bytes());
  ASSERT_OK_AND_ASSIGN(KvLease lease, bf16->Reserve(6));
  // Every (sublayer, position) stores distinct values; reading them all back
  // afterwards shows no two share storage.
  auto value = [](int sub, int p, int i) {
    return 1.0f + sub * 100 + p * 10 + i + 0.001f;
  };
  for (int sub = 0; sub < 2; ++sub) {
    KvView v = bf16->View(sub, lease.blocks(), /*head_dim=*/2);
    EXPECT_TRUE(v.bf16);
    for (int p = 0; p < 6; ++p) {
      std::vector<float> k(4), val(4);
      for (int i = 0; i < 4; ++i) {
        k[i] = value(sub, p, i);
        val[i] = -k[i];
      }
      v.Store(p, k.data(), val.data());
    }
  }
  for (int sub = 0; sub < 2; ++sub) {
    KvView v = bf16->View(sub, lease.blocks(), /*head_dim=*/2);
    for (int p = 0; p < 6; ++p) {
      for (int i = 0; i < 4; ++i) {
        const float want = Bf16ToFloat(FloatToBf16(value(sub, p, i)));
        EXPECT_EQ(v.KeyAt(p, i / 2, i % 2), want);
        EXPECT_EQ(v.ValueAt(p, i / 2, i % 2), -want);
      }
    }
  }
}

TEST(KvBlockPoolTest, RejectsBadSizes) {
  EXPECT_FALSE(KvBlockPool::Create(0, 4, 1, 8).ok());
  EXPECT_FALSE(KvBlockPool::Create(4, 0, 1, 8).ok());
}

}  // namespace
}  // namespace terraserve::engine
