#include "engine/model/weight_loader.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"

namespace terraserve::engine {

absl::StatusOr<std::vector<float>> WeightLoader::Take(
    const std::string& name, const std::vector<int64_t>& shape) {
  auto it = file_->tensors().find(name);
  std::string expected = absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
  if (it == file_->tensors().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.safetensors: missing tensor '", name,
                     "' (expected shape ", expected, ")"));
  }
  const TensorView& t = it->second;
  if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 &&
      t.dtype != DType::kF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.safetensors: tensor '", name, "' has dtype ",
                     DTypeName(t.dtype), "; expected F32, BF16 or F16"));
  }
  if (t.shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.safetensors: tensor '", name, "' expected shape ",
                     expected, ", found ", t.ShapeString()));
  }
  used_.insert(name);
  taken_ += t.num_elements();
  return SafetensorsFile::ToFloat(t);
}

absl::Status WeightLoader::CheckAllUsed() const {
  std::vector<std::string> unused;
  for (const auto& [name, view] : file_->tensors()) {
    if (!used_.count(name)) unused.push_back(name);
  }
  if (unused.empty()) return absl::OkStatus();
  if (unused.size() > 8) {
    unused.resize(8);
    unused.push_back("...");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("model.safetensors: tensors not used by the architecture in "
                   "config.json (old trax "
                   "layout, or a config that does not match the weights): ",
                   absl::StrJoin(unused, ", ")));
}

absl::StatusOr<std::vector<float>> RandomWeights::Take(
    const std::string& name, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> out(static_cast<size_t>(n));
  taken_ += n;
  const bool is_scale =
      name.size() >= 6 && name.compare(name.size() - 6, 6, ".scale") == 0;
  if (is_scale) {
    std::fill(out.begin(), out.end(), 1.0f);
    return out;
  }
  const float scale =
      1.0f / std::sqrt(static_cast<float>(shape.empty() ? 1 : shape[0]));
  for (float& v : out) {
    // xorshift64*, then a sum of two uniforms (triangular, close enough to
    // normal for benchmark weights and far cheaper than
    // std::normal_distribution).
    auto next = [this] {
      state_ ^= state_ >> 12;
      state_ ^= state_ << 25;
      state_ ^= state_ >> 27;
      return static_cast<float>((state_ * 0x2545F4914F6CDD1Dull) >> 40) /
             float(1 << 24);
    };
    v = (next() + next() - 1.0f) * 1.7f * scale;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Linear>> LoadLinear(WeightSource& weights,
                                                   const std::string& name,
                                                   int in, int out,
                                                   DenseKernel kernel) {
  TS_ASSIGN_OR_RETURN(auto w, weights.Take(name + ".weight", {in, out}));
  TS_ASSIGN_OR_RETURN(auto b, weights.Take(name + ".bias", {out}));
  return MakeLinear(w, b, in, out, kernel);
}

}  // namespace terraserve::engine
