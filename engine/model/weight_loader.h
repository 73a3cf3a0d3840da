// Where layers get their weights from, by name and expected shape (engine/model
// layer): a safetensors file (WeightLoader) or seeded random values
// (RandomWeights, for benchmarks that need no model files). Thread-compatible.
#ifndef TERRASERVE_ENGINE_MODEL_WEIGHT_LOADER_H_
#define TERRASERVE_ENGINE_MODEL_WEIGHT_LOADER_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"
#include "engine/weights/safetensors.h"

namespace terraserve::engine {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The tensor `name` as f32, which must have exactly `shape`.
  virtual absl::StatusOr<std::vector<float>> Take(
      const std::string& name, const std::vector<int64_t>& shape) = 0;
  // Called after every layer loaded: fails if the source holds tensors no layer
  // took.
  virtual absl::Status CheckAllUsed() const = 0;
  // Elements handed out so far (the model's parameter count once loaded).
  int64_t elements_taken() const { return taken_; }

 protected:
  int64_t taken_ = 0;
};

// Tensors from a safetensors file. Every mismatch is an INVALID_ARGUMENT naming
// the tensor, the expected and the found shape or dtype.
class WeightLoader final : public WeightSource {
 public:
  explicit WeightLoader(const SafetensorsFile* file) : file_(file) {}

  // f32, bf16 and f16 tensors are accepted.
  absl::StatusOr<std::vector<float>> Take(
      const std::string& name, const std::vector<int64_t>& shape) override;
  // INVALID_ARGUMENT listing tensors in the file that no layer used (a sign of
  // a config that does not match the weights, e.g. an old trax layout).
  absl::Status CheckAllUsed() const override;

 private:
  const SafetensorsFile* file_;
  std::set<std::string> used_;
};

// Normal(0, 1/sqrt(shape[0])) values from a fixed seed; LayerNorm scales
// ("*.scale") are 1. Deterministic for a given seed and call order.
class RandomWeights final : public WeightSource {
 public:
  explicit RandomWeights(uint64_t seed)
      : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  absl::StatusOr<std::vector<float>> Take(
      const std::string& name, const std::vector<int64_t>& shape) override;
  absl::Status CheckAllUsed() const override { return absl::OkStatus(); }

 private:
  uint64_t state_;
};

// `<name>.weight` [in, out] and `<name>.bias` [out] of `weights` as a Linear.
absl::StatusOr<std::unique_ptr<Linear>> LoadLinear(WeightSource& weights,
                                                   const std::string& name,
                                                   int in, int out,
                                                   DenseKernel kernel);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_MODEL_WEIGHT_LOADER_H_
