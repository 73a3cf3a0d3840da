// Fixed pool of KV-cache blocks (engine/kv_cache layer).
//
// Memory is allocated once at creation, and every page faulted in then, so no
// decode step waits on the kernel: num_blocks blocks, each holding block_size
// positions of keys and values for every attention sublayer.
// Sequences take blocks through a KvLease, which returns them when destroyed,
// so the pool bounds memory and admission can count free blocks.
//
// Thread-compatible: used only by the engine's thread.
#ifndef TERRASERVE_ENGINE_KV_CACHE_KV_BLOCK_POOL_H_
#define TERRASERVE_ENGINE_KV_CACHE_KV_BLOCK_POOL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/base/huge_page_allocator.h"
#include "engine/kernels/kernel_types.h"

namespace terraserve::engine {

class KvBlockPool;

// Blocks held by one sequence; returned to the pool on destruction. Move-only.
class KvLease {
 public:
  KvLease() = default;
  KvLease(KvBlockPool* pool, std::vector<int32_t> blocks);
  KvLease(KvLease&& other) noexcept;
  KvLease& operator=(KvLease&& other) noexcept;
  ~KvLease();

  const std::vector<int32_t>& blocks() const { return blocks_; }
  // Positions these blocks can hold.
  int64_t capacity_tokens() const;

 private:
  void Release();
  KvBlockPool* pool_ = nullptr;
  std::vector<int32_t> blocks_;
};

class KvBlockPool {
 public:
  // RESOURCE_EXHAUSTED if the memory cannot be allocated or is more than the
  // process can still take (AvailableMemoryBytes). bf16: hold keys and
  // values in bfloat16 (KvView::bf16), half the bytes of f32.
  static absl::StatusOr<std::unique_ptr<KvBlockPool>> Create(
      int num_blocks, int block_size, int n_attention_sublayers, int d,
      bool bf16 = false);

  // Blocks for `num_tokens` positions, or RESOURCE_EXHAUSTED when fewer are
  // free.
  absl::StatusOr<KvLease> Reserve(int64_t num_tokens);

  int num_blocks() const { return num_blocks_; }
  int free_blocks() const { return static_cast<int>(free_.size()); }
  int block_size() const { return block_size_; }
  int64_t BlocksFor(int64_t num_tokens) const {
    return (num_tokens + block_size_ - 1) / block_size_;
  }
  // Bytes one position takes in a pool of this layout (keys and values of
  // every attention sublayer), for sizing a pool before it exists.
  static int64_t BytesPerToken(int n_attention_sublayers, int d, bool bf16) {
    return int64_t(n_attention_sublayers) * 2 * d * (bf16 ? 2 : 4);
  }
  // Bytes one block takes.
  int64_t block_bytes() const {
    return BytesPerToken(n_sublayers_, d_, bf16_) * block_size_;
  }
  // Bytes the whole pool holds.
  int64_t bytes() const { return block_bytes() * num_blocks_; }

  // Keys/values of attention sublayer `sublayer` for the given blocks, laid
  // out for heads of `head_dim` floats (which must divide d).
  KvView View(int sublayer, const std::vector<int32_t>& blocks, int head_dim);

 private:
  friend class KvLease;
  KvBlockPool() = default;
  void Free(const std::vector<int32_t>& blocks);

  int num_blocks_ = 0, block_size_ = 0, n_sublayers_ = 0, d_ = 0;
  int64_t block_stride_ = 0;  // elements per block
  bool bf16_ = false;
  // f32 elements, or pairs of bf16 ones.
  std::unique_ptr<float[], FreeDeleter> data_;
  std::vector<int32_t> free_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KV_CACHE_KV_BLOCK_POOL_H_
