// Memory for large arrays that kernels read a few KB at a time at scattered
// places (engine/base layer): the Sparse FF rows one token chooses, the KV
// cache's blocks. With 4 KiB pages each such run costs a TLB miss or two.
// Arrays of 2 MiB or more are 2 MiB-aligned and marked for transparent huge
// pages (madvise MADV_HUGEPAGE, effective where THP is "always" or
// "madvise"), which a kernel without THP ignores. Stateless; thread-safe.
#ifndef TERRASERVE_ENGINE_BASE_HUGE_PAGE_ALLOCATOR_H_
#define TERRASERVE_ENGINE_BASE_HUGE_PAGE_ALLOCATOR_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace terraserve {

inline constexpr size_t kHugePage = size_t(2) << 20;

// `bytes` of uninitialised memory, or nullptr if there is none. From 2 MiB up
// it is 2 MiB-aligned and marked before first touch, so its pages are faulted
// in huge. Release with std::free (FreeDeleter).
inline void* AllocateHugePages(size_t bytes) noexcept {
  const size_t align = bytes >= kHugePage ? kHugePage : 64;
  // aligned_alloc wants a multiple of the alignment.
  void* p = std::aligned_alloc(align, (bytes + align - 1) / align * align);
  if (p != nullptr && align == kHugePage) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

// Writes a byte in every 4 KiB page of p[0:bytes), so the kernel faults them
// all in (huge where marked) now rather than at their first use.
inline void TouchPages(void* p, size_t bytes) noexcept {
  volatile char* c = static_cast<char*>(p);
  for (size_t i = 0; i < bytes; i += 4096) c[i] = 0;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    void* p = AllocateHugePages(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const HugePageAllocator<U>&) const {
    return false;
  }
};

template <typename T>
using HugePageVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace terraserve

#endif  // TERRASERVE_ENGINE_BASE_HUGE_PAGE_ALLOCATOR_H_
