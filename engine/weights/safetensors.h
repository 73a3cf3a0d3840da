// Memory-mapped safetensors file (engine/weights layer).
//
// Format: u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data. Open() validates the whole header before any tensor is
// touched: the header must fit in the file and be at most kMaxHeaderBytes,
// every tensor's byte size must equal its shape times its dtype size, every
// range must lie inside the data, and no two ranges may overlap. After that,
// tensor data is read straight from the mapping.
//
// Thread-safety: immutable after Open(); safe to share between threads.
#ifndef TERRASERVE_ENGINE_WEIGHTS_SAFETENSORS_H_
#define TERRASERVE_ENGINE_WEIGHTS_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace terraserve::engine {

enum class DType { kF32, kBF16, kF16, kI32, kI64 };

absl::string_view DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

struct TensorView {
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data;  // points into the mapping
  size_t num_bytes;

  int64_t num_elements() const;
  std::string ShapeString() const;  // e.g. "[256, 1024]"
};

class SafetensorsFile {
 public:
  // Headers larger than this are rejected before being read (the format's own
  // cap).
  static constexpr uint64_t kMaxHeaderBytes = 100 << 20;

  // Maps `path` read-only and validates it. INVALID_ARGUMENT for a malformed
  // file (message says what and where), NOT_FOUND if it does not exist.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);
  // Same checks over bytes already in memory (used by tests and fuzzing); the
  // caller keeps `bytes` alive.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> FromBuffer(
      const uint8_t* bytes, size_t size);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }
  // NOT_FOUND naming the tensor when absent.
  absl::StatusOr<TensorView> Get(const std::string& name) const;

  // Copies a float tensor (f32, bf16 or f16) into f32.
  static std::vector<float> ToFloat(const TensorView& t);

 private:
  SafetensorsFile() = default;
  absl::Status Parse(const uint8_t* bytes, size_t size);

  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_WEIGHTS_SAFETENSORS_H_
