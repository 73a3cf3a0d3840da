#include "engine/kernels/packed_linear.h"

#include <algorithm>

#include "engine/base/thread_team.h"
#include "engine/kernels/bf16.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {
namespace {

// Forward packs x into row tiles (PackRowTiles) before f32 panels from this
// many rows and output columns: prompt chunks and large decode batches, where
// the GEMM is bound by the cores rather than by reading the weights, and
// wide enough that the copy is small against it. On a Xeon (AVX-512), 24-512
// rows of 1024 x 512 to 4096 and 4096 x 1024 ran 1-12% faster so in all but
// one noisy run; 16 rows (a pass bound by memory) and 256 rows of 1024 x 64
// or x 96 (where the copy is a large part of the GEMM) ran slower. Not in the
// scalar build, whose tiles are plain rows.
constexpr int64_t kTilesFromRows =
    kGemmRowTile > 1 ? 2 * kGemmRowTile : INT64_MAX;
constexpr int64_t kTilesFromColumns = 512;

// x's m rows packed by PackRowTiles into a buffer of the calling thread (the
// engine thread), kept and reused by every layer: at most the largest step's
// rows times the widest input (8 MB for 512 rows of 4096). Large prompts pack
// over the team.
const float* RowTiles(const float* x, int64_t m, int64_t k) {
  thread_local std::vector<float> tiles;
  if (tiles.size() < static_cast<size_t>(m * k)) tiles.resize(m * k);
  float* out = tiles.data();
  const int64_t n_tiles = (m + kGemmRowTile - 1) / kGemmRowTile;
  ParallelFor(n_tiles, Schedule::kStatic, m * k >= (int64_t(1) << 18),
              [&](int64_t begin, int64_t end) {
                const int64_t r0 = begin * kGemmRowTile;
                const int64_t r1 = std::min(m, end * kGemmRowTile);
                PackRowTiles(x + r0 * k, k, k, r1 - r0, out + r0 * k);
              });
  return out;
}

// A weight as held: f32 as given, or rounded to bf16.
template <typename T>
T Held(float v);
template <>
float Held<float>(float v) {
  return v;
}
template <>
uint16_t Held<uint16_t>(float v) {
  return FloatToBf16(v);
}

// T: the weights' storage, float or uint16_t (bf16). The bias stays f32.
template <typename T>
class PackedLinear final : public Linear {
  // Output columns per panel: a cache line a row.
  static constexpr int64_t kPanel = sizeof(T) == 4 ? 16 : kBf16PanelColumns;
  // Rows up to which the kernel is handed two panels at once.
  static constexpr int64_t kPairRows =
      sizeof(T) == 4 ? kPanelPairRows : kBf16PanelPairRows;

 public:
  PackedLinear(const std::vector<float>& w, const std::vector<float>& bias,
               int64_t k, int64_t n)
      : k_(k), n_(n), panels_(n / kPanel), tail_(n % kPanel) {
    packed_.resize(panels_ * k * kPanel);
    for (int64_t p = 0; p < panels_; ++p) {
      for (int64_t c = 0; c < k; ++c) {
        std::transform(w.data() + c * n + p * kPanel,
                       w.data() + c * n + (p + 1) * kPanel,
                       packed_.data() + (p * k + c) * kPanel, Held<T>);
      }
    }
    tail_w_.resize(k * tail_);
    for (int64_t c = 0; c < k; ++c) {
      std::transform(w.data() + c * n + panels_ * kPanel,
                     w.data() + (c + 1) * n, tail_w_.data() + c * tail_,
                     Held<T>);
    }
    bias_ = bias.empty() ? std::vector<float>(n, 0.0f) : bias;
  }

  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }
  int64_t weight_bytes() const override {
    return int64_t(packed_.size() + tail_w_.size()) * int64_t(sizeof(T)) +
           n_ * 4;
  }

  absl::Status Forward(const float* x, int64_t m, float* y) override {
    // Below ~64k multiply-adds the fork/join costs more than a second thread
    // gains.
    const bool parallel = m * k_ * n_ >= (int64_t(1) << 16);
    // Up to kPairRows rows, an item is two panels: the kernel then reads
    // both at once, two memory streams per thread. Not for a handful of
    // panels, unless they pair evenly over the team (the factored dense's
    // four), which pairs would otherwise split unevenly.
    const bool even_pairs = panels_ % (2 * TeamSize()) == 0;
    const int64_t pairs =
        m <= kPairRows && (panels_ >= 16 || even_pairs) ? panels_ / 2 : 0;
    const float* tiles =
        sizeof(T) == 4 && m >= kTilesFromRows && n_ >= kTilesFromColumns
            ? RowTiles(x, m, k_)
            : nullptr;
    // Guided: on a shared host a vCPU can lose its core for milliseconds, and
    // with static halves the other thread then waits at the join (the wait
    // was 10% of a noisy batch-16 step); guided hands out shrinking chunks,
    // so whichever thread runs takes the rest, and on a quiet host its first
    // chunks are the same long runs as static's.
    ParallelFor(panels_ - pairs, Schedule::kGuided, parallel,
                [&](int64_t begin, int64_t end) {
                  for (int64_t p = begin; p < end; ++p) {
                    const int64_t first = p < pairs ? 2 * p : p + pairs;
                    const int64_t count = p < pairs ? 2 : 1;
                    if (tiles != nullptr) {
                      PanelsOfTiles(tiles, m, first, count, y);
                    } else {
                      Panels(x, m, first, count, y);
                    }
                  }
                });
    if (tail_ > 0) Tail(x, m, y);
    return absl::OkStatus();
  }

  int64_t column_group() const override { return kPanel; }

  // Panel by panel, each input's rows in turn, so a panel is read from
  // memory once and then from cache.
  void ForwardColumnsScaled(const float* x, int64_t m, const float* scales,
                            int64_t n_scales, int64_t j0, int64_t j1,
                            float* y) const override {
    auto scale = [&](int64_t s) {
      return scales == nullptr ? nullptr : scales + s * k_;
    };
    const int64_t end = std::min(j1 / kPanel, panels_);
    for (int64_t p = j0 / kPanel; p < end;) {
      const int64_t count = m <= kPairRows && p + 1 < end ? 2 : 1;
      for (int64_t s = 0; s < n_scales; ++s)
        Panels(x, m, p, count, y + s * m * n_, scale(s));
      p += count;
    }
    if (tail_ == 0 || j1 != n_) return;
    for (int64_t s = 0; s < n_scales; ++s) Tail(x, m, y + s * m * n_, scale(s));
  }

  void ForwardColumnsOfInputs(const float* x, int64_t m, int64_t i0, int64_t i1,
                              int64_t j0, int64_t j1, float* y) const override {
    const int64_t end = std::min(j1 / kPanel, panels_);
    for (int64_t p = j0 / kPanel; p < end; ++p)
      Panels(x, m, p, 1, y, /*scale=*/nullptr, i0, i1);
    if (tail_ > 0 && j1 == n_) Tail(x, m, y, /*scale=*/nullptr, i0, i1);
  }

 private:
  // y[:, j0 : j0 + width] = bias[j0 : j0 + width] for every row, or zero
  // without `bias`.
  void StartWithBias(int64_t m, int64_t j0, int64_t width, float* y,
                     bool bias = true) const {
    for (int64_t r = 0; r < m; ++r) {
      if (bias) {
        std::copy_n(bias_.data() + j0, width, y + r * n_ + j0);
      } else {
        std::fill_n(y + r * n_ + j0, width, 0.0f);
      }
    }
  }

  // The columns of `count` panels from panel `first`, over inputs [i0, i1)
  // (i1 < 0: all of them), plus the bias where i0 == 0; the weights' rows
  // multiplied by `scale` where given (GemmAccumulate). Part of the inputs
  // only with count 1: a part's rows of two panels are not a panel pair.
  void Panels(const float* x, int64_t m, int64_t first, int64_t count, float* y,
              const float* scale = nullptr, int64_t i0 = 0,
              int64_t i1 = -1) const {
    if (i1 < 0) i1 = k_;
    const int64_t j0 = first * kPanel;
    StartWithBias(m, j0, count * kPanel, y, i0 == 0);
    PanelGemmAccumulate(x + i0, k_, packed_.data() + (first * k_ + i0) * kPanel,
                        i1 - i0, count, y + j0, n_, m, scale);
  }

  // Panels over x packed by RowTiles (f32 weights; Forward packs none for
  // bf16 ones).
  void PanelsOfTiles(const float* tiles, int64_t m, int64_t first,
                     int64_t count, float* y) const {
    if constexpr (sizeof(T) == 4) {
      const int64_t j0 = first * kPanel;
      StartWithBias(m, j0, count * kPanel, y);
      PanelGemmAccumulateTiles(tiles, packed_.data() + first * k_ * kPanel, k_,
                               count, y + j0, n_, m);
    }
  }

  // The columns past the last full panel, as Panels.
  void Tail(const float* x, int64_t m, float* y, const float* scale = nullptr,
            int64_t i0 = 0, int64_t i1 = -1) const {
    if (i1 < 0) i1 = k_;
    const int64_t j0 = panels_ * kPanel;
    StartWithBias(m, j0, tail_, y, i0 == 0);
    GemmAccumulate(x + i0, k_, tail_w_.data() + i0 * tail_, tail_, i1 - i0,
                   tail_, y + j0, n_, m, scale);
  }

  int64_t k_, n_, panels_, tail_;
  std::vector<T> packed_, tail_w_;
  std::vector<float> bias_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Linear>> MakePackedLinear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n) {
  if (absl::Status s = CheckLinearShape(weight, bias, k, n); !s.ok()) return s;
  return std::unique_ptr<Linear>(new PackedLinear<float>(weight, bias, k, n));
}

absl::StatusOr<std::unique_ptr<Linear>> MakePackedBf16Linear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n) {
  if (absl::Status s = CheckLinearShape(weight, bias, k, n); !s.ok()) return s;
  return std::unique_ptr<Linear>(
      new PackedLinear<uint16_t>(weight, bias, k, n));
}

}  // namespace terraserve::engine
