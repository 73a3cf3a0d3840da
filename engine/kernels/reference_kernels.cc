#include "engine/kernels/reference_kernels.h"

#include <cmath>
#include <vector>

namespace terraserve::engine::reference {

void LayerNorm(const float* x, int64_t rows, int d, const float* scale,
               const float* bias, bool center, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    double mean = 0, var = 0;
    if (center) {
      for (int i = 0; i < d; ++i) mean += xr[i];
      mean /= d;
      for (int i = 0; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    } else {
      for (int i = 0; i < d; ++i) var += double(xr[i]) * xr[i];
    }
    double inv = 1.0 / std::sqrt(var / d + 1e-6);
    for (int i = 0; i < d; ++i) {
      double v = (xr[i] - mean) * inv * scale[i];
      y[r * d + i] = static_cast<float>(center ? v + bias[i] : v);
    }
  }
}

void Softmax(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * n;
    double mx = xr[0];
    for (int64_t i = 1; i < n; ++i) mx = std::max<double>(mx, xr[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(xr[i] - mx);
    for (int64_t i = 0; i < n; ++i)
      xr[i] = static_cast<float>(std::exp(xr[i] - mx) / sum);
  }
}

void Embed(const float* table, const float* pos_table, const int32_t* ids,
           const int32_t* positions, int64_t n, int d, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      float v = table[int64_t(ids[i]) * d + j];
      if (pos_table != nullptr) v += pos_table[int64_t(positions[i]) * d + j];
      out[i * d + j] = v;
    }
  }
}

namespace {

void AttentionOne(const float* q, int T, int64_t start, bool causal,
                  int n_heads, const KvView& kv, float* out) {
  const int d = kv.d, dh = d / n_heads;
  for (int t = 0; t < T; ++t) {
    int64_t len = causal ? start + t + 1 : start + T;
    for (int h = 0; h < n_heads; ++h) {
      std::vector<double> s(len);
      double mx = -1e300;
      for (int64_t p = 0; p < len; ++p) {
        double acc = 0;
        for (int i = 0; i < dh; ++i)
          acc += double(q[t * d + h * dh + i]) * kv.KeyAt(p, h, i);
        s[p] = acc / std::sqrt(double(dh));
        mx = std::max(mx, s[p]);
      }
      double sum = 0;
      for (auto& v : s) sum += (v = std::exp(v - mx));
      for (int i = 0; i < dh; ++i) {
        double acc = 0;
        for (int64_t p = 0; p < len; ++p)
          acc += s[p] / sum * kv.ValueAt(p, h, i);
        out[t * d + h * dh + i] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace

void Attention(const AttentionJob* jobs, int n_jobs, int n_heads) {
  for (int j = 0; j < n_jobs; ++j) {
    AttentionOne(jobs[j].q, jobs[j].T, jobs[j].start, jobs[j].causal, n_heads,
                 jobs[j].kv, jobs[j].out);
  }
}

void SparseFfRow(const float* x, const int32_t* idx, const float* probs,
                 const SparseFfWeights& w, float* y) {
  for (int j = 0; j < w.d; ++j) {
    double acc = w.b2[j];
    for (int b = 0; b < w.n_blocks; ++b) {
      const float* u = w.w1t + (int64_t(b) * w.block + idx[b]) * w.d;
      double h = 0;
      for (int i = 0; i < w.d; ++i) h += double(x[i]) * u[i];
      h = std::max(h, 0.0) * (probs ? probs[b] : 1.0);
      acc += h * w.w2[(int64_t(idx[b]) * w.n_blocks + b) * w.d + j];
    }
    y[j] = static_cast<float>(acc);
  }
}

void BlockArgmax(const float* logits, int n_blocks, int block, int32_t* idx,
                 float* probs) {
  for (int b = 0; b < n_blocks; ++b) {
    const float* l = logits + int64_t(b) * block;
    int best = 0;
    for (int e = 1; e < block; ++e) {
      if (l[e] > l[best]) best = e;
    }
    idx[b] = best;
    if (probs != nullptr) {
      double sum = 0;
      for (int e = 0; e < block; ++e) sum += std::exp(double(l[e]) - l[best]);
      probs[b] = static_cast<float>(1.0 / sum);
    }
  }
}

void CausalConv(const float* history, const float* y, int T, int S, int M,
                int kL, int kS, const float* weight, const float* bias,
                float* out) {
  const int half = (kS - 1) / 2, width = S * M;
  auto row = [&](int r) {
    return r < kL - 1 ? history + int64_t(r) * width
                      : y + int64_t(r - (kL - 1)) * width;
  };
  for (int t = 0; t < T; ++t) {
    for (int s = 0; s < S; ++s) {
      for (int o = 0; o < M; ++o) {
        double acc = bias[o];
        for (int i = 0; i < kL; ++i) {
          const float* in = row(t + i);
          for (int j = 0; j < kS; ++j) {
            int sm = s - half + j;
            if (sm < 0 || sm >= S) continue;
            for (int c = 0; c < M; ++c) {
              acc += double(in[sm * M + c]) *
                     weight[((int64_t(i) * kS + j) * M + c) * M + o];
            }
          }
        }
        out[int64_t(t) * width + s * M + o] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace terraserve::engine::reference
