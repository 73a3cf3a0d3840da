#include "engine/kernels/onednn_linear.h"

#include <new>
#include <oneapi/dnnl/dnnl.hpp>

#include "absl/strings/str_cat.h"
#include "engine/base/thread_team.h"

namespace terraserve::engine {
namespace {

using dnnl::memory;

dnnl::engine& CpuEngine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

class OnednnLinear final : public Linear {
 public:
  OnednnLinear(int64_t k, int64_t n) : k_(k), n_(n), stream_(CpuEngine()) {}

  // Builds the primitive and reorders the weights; throws dnnl::error.
  void Init(const std::vector<float>& weight, const std::vector<float>& bias) {
    const memory::dim rt = DNNL_RUNTIME_DIM_VAL;
    memory::desc src({rt, k_}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc wei_any({k_, n_}, memory::data_type::f32,
                         memory::format_tag::any);
    memory::desc dst({rt, n_}, memory::data_type::f32, memory::format_tag::ab);
    has_bias_ = !bias.empty();
    memory::desc bias_md({1, n_}, memory::data_type::f32,
                         memory::format_tag::ab);
    auto desc = has_bias_ ? dnnl::matmul::desc(src, wei_any, bias_md, dst)
                          : dnnl::matmul::desc(src, wei_any, dst);
    dnnl::matmul::primitive_desc pd(desc, CpuEngine());
    primitive_ = dnnl::matmul(pd);
    memory::desc plain({k_, n_}, memory::data_type::f32,
                       memory::format_tag::ab);
    memory plain_mem(plain, CpuEngine(), const_cast<float*>(weight.data()));
    weights_ = memory(pd.weights_desc(), CpuEngine());
    dnnl::reorder(plain_mem, weights_).execute(stream_, plain_mem, weights_);
    if (has_bias_) {
      bias_ = memory(bias_md, CpuEngine());
      std::copy(bias.begin(), bias.end(),
                static_cast<float*>(bias_.get_data_handle()));
    }
    stream_.wait();
    weight_bytes_ =
        static_cast<int64_t>(pd.weights_desc().get_size() + bias.size() * 4);
  }

  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }
  int64_t weight_bytes() const override { return weight_bytes_; }

  absl::Status Forward(const float* x, int64_t m, float* y) override {
    try {
      memory src({{m, k_}, memory::data_type::f32, memory::format_tag::ab},
                 CpuEngine(), const_cast<float*>(x));
      memory dst({{m, n_}, memory::data_type::f32, memory::format_tag::ab},
                 CpuEngine(), y);
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                              {DNNL_ARG_WEIGHTS, weights_},
                                              {DNNL_ARG_DST, dst}};
      if (has_bias_) args[DNNL_ARG_BIAS] = bias_;
      primitive_.execute(stream_, args);
      stream_.wait();
    } catch (const dnnl::error& e) {
      return absl::InternalError(absl::StrCat("oneDNN matmul [", m, "x", k_,
                                              "]x[", k_, "x", n_,
                                              "] failed: ", e.what()));
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("out of memory in oneDNN matmul");
    }
    return absl::OkStatus();
  }

 private:
  int64_t k_, n_;
  bool has_bias_ = false;
  int64_t weight_bytes_ = 0;
  dnnl::stream stream_;
  dnnl::matmul primitive_;
  memory weights_, bias_;
  // oneDNN runs on OpenMP: so do the other kernels while this layer exists.
  OpenMpRegions openmp_regions_;
};

bool QueryKeepsWeightsPlain() {
  try {
    const memory::dim rt = DNNL_RUNTIME_DIM_VAL, k = 1024, n = 1024;
    memory::desc src({rt, k}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc wei({k, n}, memory::data_type::f32, memory::format_tag::any);
    memory::desc dst({rt, n}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst),
                                    CpuEngine());
    memory::desc plain({k, n}, memory::data_type::f32, memory::format_tag::ab);
    return pd.weights_desc() == plain;
  } catch (const dnnl::error&) {
    return true;
  }
}

}  // namespace

bool OnednnMatmulKeepsWeightsPlain() {
  static const bool plain = QueryKeepsWeightsPlain();
  return plain;
}

absl::StatusOr<std::unique_ptr<Linear>> MakeOnednnLinear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n) {
  if (absl::Status s = CheckLinearShape(weight, bias, k, n); !s.ok()) return s;
  auto linear = std::make_unique<OnednnLinear>(k, n);
  try {
    linear->Init(weight, bias);
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat("oneDNN matmul ", k, "x", n, ": ", e.what()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        "out of memory creating a oneDNN matmul");
  }
  return linear;
}

}  // namespace terraserve::engine
