// Allocator for large arrays that a kernel reads a few KB at a time at
// scattered places (engine/base layer), such as the Sparse FF rows one token
// chooses: with 4 KiB pages each such row costs a TLB miss or two. Arrays of 2
// MiB or more are 2 MiB-aligned and marked for transparent huge pages
// (madvise MADV_HUGEPAGE, effective where THP is "always" or "madvise"), which
// a kernel without THP ignores. Stateless; thread-safe.
#ifndef TERRASERVE_ENGINE_BASE_HUGE_PAGE_ALLOCATOR_H_
#define TERRASERVE_ENGINE_BASE_HUGE_PAGE_ALLOCATOR_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace terraserve {

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t(2) << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    const size_t align = bytes >= kHugePage ? kHugePage : 64;
    // aligned_alloc wants a multiple of the alignment; the pages marked
    // before first touch are faulted in huge.
    void* p = std::aligned_alloc(align, (bytes + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
    if (align == kHugePage) madvise(p, bytes, MADV_HUGEPAGE);
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
