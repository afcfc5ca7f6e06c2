// BatchNorm batch statistics accumulated in double, as PyTorch's CPU BatchNorm does (its
// accumulation type for float is double). oneDNN 2.6's BatchNorm sums in float: over the
// 10^4..10^5 values a channel has at a full-size batch its batch means came out 10-100x further
// from float64 than PyTorch's (issue 9, mobilenet_v2_offline at 64 px: 1.5e-5 of a channel's
// standard deviation where PyTorch fp32 is at 1.5e-7).
#pragma once
#include <algorithm>
#include <cstdint>

#include "oneapi/dnnl/dnnl.hpp"

// Layouts bnStatsDouble reads: 4-D f32, plain (nchw, nhwc, ...) or blocked on channels only
// (nChw8c, nChw16c, ...). For any other the caller lets oneDNN compute the statistics.
inline bool bnStatsLayoutSupported(const dnnl::memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.ndims != 4 || d.format_kind != dnnl_blocked || d.data_type != dnnl_f32) return false;
  const auto& b = d.format_desc.blocking;
  return b.inner_nblks == 0 || (b.inner_nblks == 1 && b.inner_idxs[0] == 1 && b.inner_blks[0] <= 64);
}

// Sums of x - k and (x - k)^2 in double over one block of B adjacent channels (k: the block's
// first value of each channel, a shift that keeps the one-pass variance free of cancellation).
template <int B>
inline void bnBlockSums(const float* base, int64_t nc, int64_t N, int64_t H, int64_t W, int64_t sn, int64_t sh, int64_t sw, double* s, double* q, double* k) {
  for (int64_t i = 0; i < B; ++i) s[i] = q[i] = 0, k[i] = i < nc ? base[i] : 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        const float* p = base + n * sn + h * sh + w * sw;
#pragma omp simd
        for (int64_t i = 0; i < B; ++i) {
          const double d = double(p[i]) - k[i];
          s[i] += d;
          q[i] += d * d;
        }
      }
}

// Per-channel mean and biased variance of a tensor in a layout bnStatsLayoutSupported accepts.
inline void bnStatsDouble(const dnnl::memory& m, float* mean, float* var) {
  const dnnl::memory::desc md = m.get_desc();
  const dnnl_memory_desc_t& d = md.data;
  const auto& b = d.format_desc.blocking;
  const int64_t blk = b.inner_nblks == 1 ? b.inner_blks[0] : 1;
  const int64_t N = d.dims[0], C = d.dims[1], H = d.dims[2], W = d.dims[3];
  const int64_t sn = b.strides[0], sc = b.strides[1], sh = b.strides[2], sw = b.strides[3];
  const float* x = static_cast<const float*>(m.get_data_handle()) + d.offset0;
  const double count = double(N) * H * W;
  const int64_t blocks = (C + blk - 1) / blk;
  // One block of channels per iteration (a plain layout: one channel); within a block the
  // channels of a pixel are adjacent. Padded channels of the last block are read, not stored.
#pragma omp parallel for schedule(static)
  for (int64_t cb = 0; cb < blocks; ++cb) {
    const int64_t c0 = cb * blk, nc = std::min<int64_t>(blk, C - c0);
    const float* base = x + cb * sc;
    double s[64], q[64], k[64];
    if (blk == 16)
      bnBlockSums<16>(base, nc, N, H, W, sn, sh, sw, s, q, k);
    else if (blk == 8)
      bnBlockSums<8>(base, nc, N, H, W, sn, sh, sw, s, q, k);
    else if (blk == 1)
      bnBlockSums<1>(base, nc, N, H, W, sn, sh, sw, s, q, k);
    else {
      for (int64_t i = 0; i < blk; ++i) s[i] = q[i] = 0, k[i] = i < nc ? base[i] : 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            for (int64_t i = 0; i < blk; ++i) {
              const double dv = double(base[n * sn + h * sh + w * sw + i]) - k[i];
              s[i] += dv;
              q[i] += dv * dv;
            }
    }
    for (int64_t i = 0; i < nc; ++i) {
      const double ms = s[i] / count;
      mean[c0 + i] = float(k[i] + ms);
      var[c0 + i] = float(std::max(q[i] / count - ms * ms, 0.0));
    }
  }
}
