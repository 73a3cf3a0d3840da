#include "engine/kv_cache/kv_block_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/logging.h"
#include "engine/base/memory_info.h"
#include "engine/base/thread_team.h"

namespace terraserve::engine {

KvLease::KvLease(KvBlockPool* pool, std::vector<int32_t> blocks)
    : pool_(pool), blocks_(std::move(blocks)) {}

KvLease::KvLease(KvLease&& other) noexcept
    : pool_(other.pool_), blocks_(std::move(other.blocks_)) {
  other.pool_ = nullptr;
  other.blocks_.clear();
}

KvLease& KvLease::operator=(KvLease&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = other.pool_;
    blocks_ = std::move(other.blocks_);
    other.pool_ = nullptr;
    other.blocks_.clear();
  }
  return *this;
}

KvLease::~KvLease() { Release(); }

void KvLease::Release() {
  if (pool_ != nullptr && !blocks_.empty()) pool_->Free(blocks_);
  blocks_.clear();
  pool_ = nullptr;
}

int64_t KvLease::capacity_tokens() const {
  return pool_ == nullptr
             ? 0
             : static_cast<int64_t>(blocks_.size()) * pool_->block_size();
}

absl::StatusOr<std::unique_ptr<KvBlockPool>> KvBlockPool::Create(
    int num_blocks, int block_size, int n_attention_sublayers, int d,
    bool bf16) {
  if (num_blocks <= 0 || block_size <= 0 || n_attention_sublayers <= 0 ||
      d <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV pool needs positive sizes, got ", num_blocks,
                     " blocks of ", block_size));
  }
  std::unique_ptr<KvBlockPool> pool(new KvBlockPool());
  pool->num_blocks_ = num_blocks;
  pool->block_size_ = block_size;
  pool->n_sublayers_ = n_attention_sublayers;
  pool->d_ = d;
  pool->block_stride_ = int64_t(n_attention_sublayers) * 2 * block_size * d;
  pool->bf16_ = bf16;
  // block_stride_ is even, so bf16 elements fill whole floats.
  const int64_t bytes = pool->bytes();
  // The pool is faulted in below, so a pool the host cannot hold would get the
  // process killed: refuse it with the sizes instead.
  const int64_t available = AvailableMemoryBytes();
  if (available >= 0 && bytes > available) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache of ", bytes >> 20, " MiB (", num_blocks, " blocks of ",
        block_size, " positions) exceeds the ", available >> 20,
        " MiB of memory available; make the KV cache smaller"));
  }
  // Huge pages: a decode step reads each block's keys and values for a
  // sublayer as 64 KB runs, which with 4 KiB pages cost a TLB miss every 4 KB
  // (attention streamed 20% slower).
  pool->data_.reset(static_cast<float*>(AllocateHugePages(bytes)));
  if (pool->data_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes of KV cache"));
  }
  // Every page now, not at the first write to each block: that write paid
  // for the kernel's fault and the clearing of a fresh huge page, 10 ms or
  // more in the decode step that first reached a block (medium-sparse stored
  // one position in 35-45 us per layer on average instead of 1.5). The memory
  // is then also held from startup. By the engine's threads, a 2 MiB chunk at
  // a time: a 12.9 GB pool took one thread 4.9 s here and two 0.9 s (and 40 s
  // on memory the VM's host had not yet backed, which whoever first touches
  // it pays).
  char* data = reinterpret_cast<char*>(pool->data_.get());
  const int64_t chunks = (bytes + int64_t(kHugePage) - 1) / int64_t(kHugePage);
  ParallelFor(chunks, Schedule::kStatic, true, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t at = c * int64_t(kHugePage);
      TouchPages(data + at, static_cast<size_t>(std::min<int64_t>(
                                int64_t(kHugePage), bytes - at)));
    }
  });
  pool->free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) pool->free_.push_back(b);
  return pool;
}

absl::StatusOr<KvLease> KvBlockPool::Reserve(int64_t num_tokens) {
  int64_t need = BlocksFor(std::max<int64_t>(num_tokens, 1));
  if (need > static_cast<int64_t>(free_.size())) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache full: need ", need, " blocks, ", free_.size(), " free"));
  }
  std::vector<int32_t> blocks(free_.end() - need, free_.end());
  free_.resize(free_.size() - need);
  return KvLease(this, std::move(blocks));
}

void KvBlockPool::Free(const std::vector<int32_t>& blocks) {
  for (int32_t b : blocks) {
    TS_CHECK(b >= 0 && b < num_blocks_) << "bad block " << b;
    free_.push_back(b);
  }
  TS_CHECK(free_.size() <= static_cast<size_t>(num_blocks_))
      << "block freed twice";
}

KvView KvBlockPool::View(int sublayer, const std::vector<int32_t>& blocks,
                         int head_dim) {
  TS_CHECK(head_dim > 0 && d_ % head_dim == 0) << "head_dim " << head_dim;
  KvView v;
  // Past the block's earlier sublayers.
  v.pool = reinterpret_cast<char*>(data_.get()) +
           BytesPerToken(sublayer, d_, bf16_) * block_size_;
  v.bf16 = bf16_;
  v.blocks = blocks.data();
  v.block_size = block_size_;
  v.d = d_;
  v.block_stride = block_stride_;
  v.v_offset = int64_t(block_size_) * d_;
  v.head_dim = head_dim;
  return v;
}

}  // namespace terraserve::engine
