#include "engine/kv_cache/kv_block_pool.h"

#include <gtest/gtest.h>

#include <set>

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

TEST(KvBlockPoolTest, RejectsBadSizes) {
  EXPECT_FALSE(KvBlockPool::Create(0, 4, 1, 8).ok());
  EXPECT_FALSE(KvBlockPool::Create(4, 0, 1, 8).ok());
}

}  // namespace
}  // namespace terraserve::engine
