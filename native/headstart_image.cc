// headstart_image.node: the loader's native JPEG path (issue 11). One call decodes the part of a
// JPEG that a crop + resize reads, with libjpeg-turbo set up as Pillow sets it (ISLOW DCT, fancy
// upsampling, RGB out: the same bytes as PIL's decode), resizes it with PIL's resampler (the same
// algorithm and fixed-point arithmetic as src/data/transforms/resample.ts, ported from it) and
// writes the result straight into the caller's buffer: normalised float32 CHW through a 3 x 256
// lookup table, mirrored if asked, or 8-bit HWC. Optionally decodes at 1/2, 1/4 or 1/8 scale
// (libjpeg's scaled IDCT: JPEG shrink-on-load), where the caller's tolerance allows.
//
// Exports: decode(bytes, params, out, table) runs on the calling thread; decodeAsync(...) on a libuv
// worker, returning a Promise. A corrupt or truncated JPEG (libjpeg's errors and its warnings, as
// sharp's failOn: 'warning') throws / rejects with code E_BAD_IMAGE; a JPEG in a colour space other
// than YCbCr, RGB, greyscale, CMYK or YCCK with code E_UNSUPPORTED_JPEG (the caller keeps its other
// decoder for those). CMYK/YCCK are converted to RGB as Pillow converts them. Linked with -ljpeg only.
#include <node_api.h>

#include <algorithm>
#include <csetjmp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <jpeglib.h>
}

namespace {

// The order of the Float64Array `params`.
enum Param {
  P_SCALE,     // scale_denom: 1, 2, 4 or 8
  P_EXPECT_W,  // decoded (scaled) size the caller expects; 0 = unchecked
  P_EXPECT_H,
  P_X0,  // source box in decoded pixels (PIL's `box`; may be fractional)
  P_Y0,
  P_X1,
  P_Y1,
  P_OUT_W,  // size the box is resized to
  P_OUT_H,
  P_WIN_L,  // window of the resized image that is written
  P_WIN_T,
  P_WIN_W,
  P_WIN_H,
  P_BICUBIC,  // 0 bilinear, 1 bicubic
  P_FLIP,     // mirror left-right (normalised output only)
  P_OFFSET,   // first element written in `out`
  P_COUNT
};

constexpr int PRECISION_BITS = 32 - 8 - 2;
constexpr int32_t HALF = 1 << (PRECISION_BITS - 1);

inline uint8_t clip8(int32_t v) {
  if (v <= 0) return 0;
  if (v >= (1 << PRECISION_BITS << 8)) return 255;
  return static_cast<uint8_t>(v >> PRECISION_BITS);
}

double bilinear_filter(double x) {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

double bicubic_filter(double x) {
  const double a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

struct Coefficients {
  int ksize = 0;
  std::vector<int> bounds;  // per output: first input index, tap count
  std::vector<int32_t> kk;  // per output: ksize fixed-point weights
};

// precompute_coeffs + normalize_coeffs_8bpc, as resample.ts's `coefficients` (double arithmetic
// in the same order; built with -ffp-contract=off so no fused multiply-add changes a rounding).
void coefficients(int in_size, int out_size, bool cubic, double in0, double in1, Coefficients& c) {
  double (*fn)(double) = cubic ? bicubic_filter : bilinear_filter;
  const double scale = (in1 - in0) / out_size;
  const double filterscale = scale < 1 ? 1 : scale;
  const double support = (cubic ? 2 : 1) * filterscale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.ksize = ksize;
  c.bounds.assign(static_cast<size_t>(out_size) * 2, 0);
  c.kk.assign(static_cast<size_t>(out_size) * ksize, 0);
  std::vector<double> pre(ksize);
  const double ss = 1 / filterscale;
  for (int xx = 0; xx < out_size; xx++) {
    const double center = in0 + (xx + 0.5) * scale;
    int xmin = static_cast<int>(std::trunc(center - support + 0.5));
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(std::trunc(center + support + 0.5));
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0;
    for (int x = 0; x < xmax; x++) {
      const double w = fn((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      ww += w;
    }
    for (int x = 0; x < ksize; x++) {
      double v = x < xmax ? pre[x] : 0;
      if (x < xmax && ww != 0) v /= ww;
      c.kk[static_cast<size_t>(xx) * ksize + x] =
          v < 0 ? static_cast<int32_t>(std::trunc(-0.5 + v * (1 << PRECISION_BITS))) : static_cast<int32_t>(std::trunc(0.5 + v * (1 << PRECISION_BITS)));
    }
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
}

struct Job {
  // Input.
  const uint8_t* bytes = nullptr;
  size_t length = 0;
  double p[P_COUNT] = {};
  // Output: normalised CHW floats through `table`, or 8-bit HWC.
  float* out = nullptr;
  uint8_t* out8 = nullptr;
  size_t out_length = 0;
  const float* table = nullptr;
  // Result.
  std::string code;
  std::string error;
};

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// Warnings (level -1: corrupt data that libjpeg would repair, a premature end) fail too, as with
// sharp's failOn: 'warning'; trace messages (level >= 0) are ignored.
void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  auto* e = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// What the decode hands to the resampler: rows [row0, row0 + rows) and columns [col0, col0 + cols)
// of the decoded image, RGB.
struct Region {
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> scratch;  // a row read only to reach the end of the file
  int row0 = 0, rows = 0, col0 = 0, cols = 0;
};

// The geometry after the header is read: the decoded size, the coefficients, the part to decode.
struct Plan {
  int width = 0, height = 0;
  bool need_h = false, need_v = false;
  Coefficients ch, cv;
  int col_lo = 0, col_hi = 0, row_lo = 0, row_hi = 0;
};

bool fail(Job& j, const char* code, const std::string& message) {
  j.code = code;
  j.error = message;
  return false;
}

bool plan_geometry(Job& j, int width, int height, Plan& g) {
  const double* p = j.p;
  g.width = width;
  g.height = height;
  const double x0 = p[P_X0], y0 = p[P_Y0], x1 = p[P_X1], y1 = p[P_Y1];
  const int out_w = static_cast<int>(p[P_OUT_W]), out_h = static_cast<int>(p[P_OUT_H]);
  const int wl = static_cast<int>(p[P_WIN_L]), wt = static_cast<int>(p[P_WIN_T]);
  const int ww = static_cast<int>(p[P_WIN_W]), wh = static_cast<int>(p[P_WIN_H]);
  const bool cubic = p[P_BICUBIC] != 0;
  if (!(x0 >= 0 && y0 >= 0 && x1 <= width && y1 <= height && x1 > x0 && y1 > y0) || out_w <= 0 || out_h <= 0 || wl < 0 || wt < 0 || ww <= 0 ||
      wh <= 0 || wl + ww > out_w || wt + wh > out_h) {
    return fail(j, "E_INTERNAL",
                "the box [" + std::to_string(x0) + ", " + std::to_string(y0) + ", " + std::to_string(x1) + ", " + std::to_string(y1) + "] or window " +
                    std::to_string(ww) + "x" + std::to_string(wh) + "+" + std::to_string(wl) + "+" + std::to_string(wt) + " of a " + std::to_string(out_w) + "x" +
                    std::to_string(out_h) + " resize does not fit the decoded " + std::to_string(width) + "x" + std::to_string(height) + " image");
  }
  // A box of whole pixels is a crop: torchvision crops, then PIL resizes the cropped image, so the
  // taps stay inside the box (clamped and renormalised at its edges) and a pass is skipped where
  // the box already has the output's size. A fractional box (shrink-on-load) is PIL's
  // resize(box=...) on the whole decoded image.
  const bool whole_x = x0 == std::floor(x0) && x1 == std::floor(x1);
  const bool whole_y = y0 == std::floor(y0) && y1 == std::floor(y1);
  g.need_h = !(whole_x && x1 - x0 == out_w);
  g.need_v = !(whole_y && y1 - y0 == out_h);
  if (g.need_h) {
    if (whole_x) {
      coefficients(static_cast<int>(x1 - x0), out_w, cubic, 0, x1 - x0, g.ch);
      for (int x = 0; x < out_w; x++) g.ch.bounds[x * 2] += static_cast<int>(x0);
    } else {
      coefficients(width, out_w, cubic, x0, x1, g.ch);
    }
    g.col_lo = width;
    g.col_hi = 0;
    for (int x = wl; x < wl + ww; x++) {
      g.col_lo = std::min(g.col_lo, g.ch.bounds[x * 2]);
      g.col_hi = std::max(g.col_hi, g.ch.bounds[x * 2] + g.ch.bounds[x * 2 + 1]);
    }
  } else {
    g.col_lo = static_cast<int>(x0) + wl;
    g.col_hi = g.col_lo + ww;
  }
  if (g.need_v) {
    if (whole_y) {
      coefficients(static_cast<int>(y1 - y0), out_h, cubic, 0, y1 - y0, g.cv);
      for (int y = 0; y < out_h; y++) g.cv.bounds[y * 2] += static_cast<int>(y0);
    } else {
      coefficients(height, out_h, cubic, y0, y1, g.cv);
    }
    g.row_lo = g.cv.bounds[wt * 2];
    const int last = wt + wh - 1;
    g.row_hi = g.cv.bounds[last * 2] + g.cv.bounds[last * 2 + 1];
  } else {
    g.row_lo = static_cast<int>(y0) + wt;
    g.row_hi = g.row_lo + wh;
  }
  if (g.col_hi <= g.col_lo || g.row_hi <= g.row_lo) return fail(j, "E_INTERNAL", "the resampler reads no pixels (a bug in headstart: please report it)");
  return true;
}

// Pillow's CMYK JPEG path: the unpacker "CMYK;I" inverts libjpeg's samples (Adobe's convention),
// then Convert.c's cmyk2rgb: nk = 255 - k, each channel nk - c * nk / 255 (MULDIV255), clipped.
void cmyk_row_to_rgb(const uint8_t* in, uint8_t* out, int n) {
  for (int x = 0; x < n; x++, in += 4, out += 3) {
    const int k = 255 - in[3];
    const int nk = 255 - k;
    for (int c = 0; c < 3; c++) {
      const int v = 255 - in[c];
      const int tmp = v * nk + 128;
      const int m = ((tmp >> 8) + tmp) >> 8;
      const int o = nk - m;
      out[c] = static_cast<uint8_t>(o < 0 ? 0 : o > 255 ? 255 : o);
    }
  }
}

// libjpeg's part, with its setjmp error handling: no C++ object is created between setjmp and the
// last libjpeg call, so a longjmp skips no destructor. Returns false with j.code / j.error set.
bool decode_region(Job& j, Plan& g, Region& r) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.message[0] = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return fail(j, "E_BAD_IMAGE", err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, j.bytes, static_cast<unsigned long>(j.length));
  jpeg_read_header(&cinfo, TRUE);
  // CMYK and YCCK JPEGs are read as Pillow reads them: CMYK out of libjpeg, taken as Adobe's
  // inverted CMYK ("CMYK;I") and converted to RGB with Pillow's formula (cmyk_row_to_rgb).
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  if (!cmyk && cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_GRAYSCALE && cinfo.jpeg_color_space != JCS_RGB) {
    jpeg_destroy_decompress(&cinfo);
    return fail(j, "E_UNSUPPORTED_JPEG", "a JPEG in an unusual colour space (this decoder reads YCbCr, RGB, greyscale, CMYK and YCCK)");
  }
  const int channels = cmyk ? 4 : 3;
  // Pillow's decoder settings (JpegDecode.c without draft mode): libjpeg's defaults, RGB out.
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned int>(j.p[P_SCALE]);
  jpeg_start_decompress(&cinfo);
  const int width = static_cast<int>(cinfo.output_width), height = static_cast<int>(cinfo.output_height);
  if ((j.p[P_EXPECT_W] != 0 && width != j.p[P_EXPECT_W]) || (j.p[P_EXPECT_H] != 0 && height != j.p[P_EXPECT_H]) || cinfo.output_components != channels) {
    jpeg_destroy_decompress(&cinfo);
    return fail(j, "E_BAD_IMAGE",
                "expected " + std::to_string(static_cast<int>(j.p[P_EXPECT_W])) + "x" + std::to_string(static_cast<int>(j.p[P_EXPECT_H])) +
                    " pixels at 1/" + std::to_string(static_cast<int>(j.p[P_SCALE])) + " scale, libjpeg decodes " + std::to_string(width) + "x" +
                    std::to_string(height) + "x" + std::to_string(cinfo.output_components));
  }
  if (!plan_geometry(j, width, height, g)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  // Only the columns and rows the resampler reads: libjpeg-turbo widens the column span to whole
  // iMCUs and skips the rows above (decoding what upsampling needs as context), and the decode
  // stops after the last row needed.
  // Fancy upsampling replicates the chroma samples at the edges of a cropped span where a whole
  // decode uses the neighbours: a margin of one iMCU either side keeps the columns read exact.
  const int imcu = cinfo.max_h_samp_factor * cinfo.min_DCT_scaled_size;
  const int lo = std::max(0, g.col_lo - imcu), hi = std::min(width, g.col_hi + imcu);
  JDIMENSION xoff = static_cast<JDIMENSION>(lo), cw = static_cast<JDIMENSION>(hi - lo);
  if (xoff != 0 || cw != static_cast<JDIMENSION>(width)) jpeg_crop_scanline(&cinfo, &xoff, &cw);
  r.col0 = static_cast<int>(xoff);
  r.cols = static_cast<int>(cw);
  r.row0 = g.row_lo;
  r.rows = g.row_hi - g.row_lo;
  r.pixels.resize(static_cast<size_t>(r.cols) * 3 * r.rows);
  r.scratch.resize(static_cast<size_t>(r.cols) * channels);
  if (g.row_lo > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(g.row_lo));
  for (int y = 0; y < r.rows;) {
    uint8_t* rgb = r.pixels.data() + static_cast<size_t>(y) * r.cols * 3;
    JSAMPROW row = cmyk ? r.scratch.data() : rgb;
    const JDIMENSION n = jpeg_read_scanlines(&cinfo, &row, 1);
    if (n == 0) {
      std::snprintf(err.message, sizeof err.message, "libjpeg returned no scanline at row %d", g.row_lo + y);
      longjmp(err.jump, 1);
    }
    if (cmyk) cmyk_row_to_rgb(r.scratch.data(), rgb, r.cols);
    y += static_cast<int>(n);
  }
  // A file that does not end with the EOI marker may be truncated below the rows read: go on to
  // the end then (skipping rows still decodes their entropy-coded data; the last row is read, as
  // skipping to the very end reads nothing), so libjpeg reports the damage as PIL, which decodes
  // everything, would. Whole files stop early.
  const bool ends_with_eoi = j.length >= 2 && j.bytes[j.length - 2] == 0xFF && j.bytes[j.length - 1] == 0xD9;
  if (g.row_hi < height && !ends_with_eoi) {
    if (height - g.row_hi > 1) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(height - g.row_hi - 1));
    JSAMPROW row = r.scratch.data();
    while (cinfo.output_scanline < cinfo.output_height)
      if (jpeg_read_scanlines(&cinfo, &row, 1) == 0) break;
  }
  if (cinfo.output_scanline == cinfo.output_height) jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// Taps of one pass as K weights per output from a shifted first index, so a loop with K fixed at
// compile time (unrolled, no per-pixel tap count) can run them: where the K taps from the first
// one would leave the `avail` input pixels, the start moves left and the weights right (zeros fill
// the rest; the sums are the same). Returns false where avail < K (the generic loop then runs).
bool fixed_taps(const Coefficients& c, int first, int count, int offset, int avail, int K, std::vector<int>& start, std::vector<int32_t>& w) {
  if (avail < K) return false;
  start.resize(count);
  w.assign(static_cast<size_t>(count) * K, 0);
  for (int i = 0; i < count; i++) {
    const int xx = first + i;
    int x0 = c.bounds[xx * 2] - offset;
    const int n = c.bounds[xx * 2 + 1];
    int shift = 0;
    if (x0 + K > avail) {
      shift = x0 + K - avail;
      x0 -= shift;
    }
    start[i] = x0;
    for (int t = 0; t < n; t++) w[static_cast<size_t>(i) * K + shift + t] = c.kk[static_cast<size_t>(xx) * c.ksize + t];
  }
  return true;
}

// The most taps any output of [first, first + count) has.
int max_taps(const Coefficients& c, int first, int count) {
  int m = 0;
  for (int i = first; i < first + count; i++) m = std::max(m, c.bounds[i * 2 + 1]);
  return m;
}

template <int K>
void horizontal_fixed(const uint8_t* src, int in_stride, int rows, const int* start, const int32_t* w, int ww, uint8_t* dst, int out_stride) {
  for (int y = 0; y < rows; y++) {
    const uint8_t* row = src + static_cast<size_t>(y) * in_stride;
    uint8_t* d = dst + static_cast<size_t>(y) * out_stride;
    for (int x = 0; x < ww; x++, d += 3) {
      const uint8_t* s = row + start[x] * 3;
      const int32_t* k = w + static_cast<size_t>(x) * K;
      int32_t s0 = HALF, s1 = HALF, s2 = HALF;
      for (int t = 0; t < K; t++) {
        s0 += s[t * 3] * k[t];
        s1 += s[t * 3 + 1] * k[t];
        s2 += s[t * 3 + 2] * k[t];
      }
      d[0] = clip8(s0);
      d[1] = clip8(s1);
      d[2] = clip8(s2);
    }
  }
}

// The horizontal pass over the region's rows, for the window's columns; 8-bit, as PIL rounds it.
void horizontal(const Job& j, const Plan& g, const Region& r, std::vector<uint8_t>& tmp) {
  const int wl = static_cast<int>(j.p[P_WIN_L]), ww = static_cast<int>(j.p[P_WIN_W]);
  const int in_stride = r.cols * 3, out_stride = ww * 3;
  tmp.resize(static_cast<size_t>(out_stride) * r.rows);
  if (!g.need_h) {
    for (int y = 0; y < r.rows; y++) std::memcpy(&tmp[static_cast<size_t>(y) * out_stride], &r.pixels[static_cast<size_t>(y) * in_stride + (g.col_lo - r.col0) * 3], out_stride);
    return;
  }
  const int K = max_taps(g.ch, wl, ww);
  std::vector<int> start;
  std::vector<int32_t> w;
  if (K <= 8 && fixed_taps(g.ch, wl, ww, r.col0, r.cols, K, start, w)) {
    void (*run)(const uint8_t*, int, int, const int*, const int32_t*, int, uint8_t*, int) = nullptr;
    switch (K) {
      case 1: run = horizontal_fixed<1>; break;
      case 2: run = horizontal_fixed<2>; break;
      case 3: run = horizontal_fixed<3>; break;
      case 4: run = horizontal_fixed<4>; break;
      case 5: run = horizontal_fixed<5>; break;
      case 6: run = horizontal_fixed<6>; break;
      case 7: run = horizontal_fixed<7>; break;
      default: run = horizontal_fixed<8>; break;
    }
    run(r.pixels.data(), in_stride, r.rows, start.data(), w.data(), ww, tmp.data(), out_stride);
    return;
  }
  const int ksize = g.ch.ksize;
  for (int y = 0; y < r.rows; y++) {
    const uint8_t* src = &r.pixels[static_cast<size_t>(y) * in_stride];
    uint8_t* dst = &tmp[static_cast<size_t>(y) * out_stride];
    for (int xx = wl; xx < wl + ww; xx++) {
      const int xmin = g.ch.bounds[xx * 2] - r.col0, xmax = g.ch.bounds[xx * 2 + 1];
      const int32_t* k = &g.ch.kk[static_cast<size_t>(xx) * ksize];
      const uint8_t* s = src + xmin * 3;
      int32_t s0 = HALF, s1 = HALF, s2 = HALF;
      for (int x = 0; x < xmax; x++, s += 3) {
        s0 += s[0] * k[x];
        s1 += s[1] * k[x];
        s2 += s[2] * k[x];
      }
      uint8_t* d = dst + (xx - wl) * 3;
      d[0] = clip8(s0);
      d[1] = clip8(s1);
      d[2] = clip8(s2);
    }
  }
}

// One output row of the vertical pass with N taps (rows `src[t]`, weights `k[t]`) over `n` bytes.
template <int N>
void vertical_row_fixed(const uint8_t* const* src, const int32_t* k, int n, uint8_t* out) {
  for (int x = 0; x < n; x++) {
    int32_t v = HALF;
    for (int t = 0; t < N; t++) v += src[t][x] * k[t];
    out[x] = clip8(v);
  }
}

void vertical_row(const uint8_t* const* src, const int32_t* k, int taps, int n, uint8_t* out, int32_t* acc) {
  switch (taps) {
    case 1: return vertical_row_fixed<1>(src, k, n, out);
    case 2: return vertical_row_fixed<2>(src, k, n, out);
    case 3: return vertical_row_fixed<3>(src, k, n, out);
    case 4: return vertical_row_fixed<4>(src, k, n, out);
    case 5: return vertical_row_fixed<5>(src, k, n, out);
    case 6: return vertical_row_fixed<6>(src, k, n, out);
    default: break;
  }
  for (int x = 0; x < n; x++) acc[x] = HALF;
  for (int t = 0; t < taps; t++) {
    const uint8_t* s = src[t];
    const int32_t kt = k[t];
    for (int x = 0; x < n; x++) acc[x] += s[x] * kt;
  }
  for (int x = 0; x < n; x++) out[x] = clip8(acc[x]);
}

// The vertical pass, row by row (each a loop over the row's bytes that vectorises), each finished
// row normalised into the CHW planes (mirrored if asked) or copied as 8 bits.
void vertical_and_write(Job& j, const Plan& g, const Region& r, const std::vector<uint8_t>& tmp) {
  const int wt = static_cast<int>(j.p[P_WIN_T]), ww = static_cast<int>(j.p[P_WIN_W]), wh = static_cast<int>(j.p[P_WIN_H]);
  const bool flip = j.p[P_FLIP] != 0;
  const size_t offset = static_cast<size_t>(j.p[P_OFFSET]);
  const int stride = ww * 3;
  const size_t plane = static_cast<size_t>(ww) * wh;
  std::vector<int32_t> acc(stride);
  std::vector<uint8_t> row(stride);
  std::vector<const uint8_t*> src;
  std::vector<int32_t> ks;
  for (int y = 0; y < wh; y++) {
    const uint8_t* line;
    if (g.need_v) {
      const int yy = wt + y;
      const int ymin = g.cv.bounds[yy * 2] - r.row0, ymax = g.cv.bounds[yy * 2 + 1];
      const int32_t* k = &g.cv.kk[static_cast<size_t>(yy) * g.cv.ksize];
      src.clear();
      ks.clear();
      for (int t = 0; t < ymax; t++) {
        if (k[t] == 0) continue;
        src.push_back(&tmp[static_cast<size_t>(ymin + t) * stride]);
        ks.push_back(k[t]);
      }
      if (src.empty()) {
        std::fill(row.begin(), row.end(), clip8(HALF));
      } else {
        vertical_row(src.data(), ks.data(), static_cast<int>(src.size()), stride, row.data(), acc.data());
      }
      line = row.data();
    } else {
      line = &tmp[static_cast<size_t>(g.row_lo + y - r.row0) * stride];
    }
    if (j.out8) {
      std::memcpy(j.out8 + offset + static_cast<size_t>(y) * stride, line, stride);
      continue;
    }
    float* R = j.out + offset + static_cast<size_t>(y) * ww;
    float* G = R + plane;
    float* B = G + plane;
    const float* t = j.table;
    if (flip) {
      for (int x = 0, d = ww - 1; x < ww; x++, d--) {
        R[d] = t[line[x * 3]];
        G[d] = t[256 + line[x * 3 + 1]];
        B[d] = t[512 + line[x * 3 + 2]];
      }
    } else {
      for (int x = 0; x < ww; x++) {
        R[x] = t[line[x * 3]];
        G[x] = t[256 + line[x * 3 + 1]];
        B[x] = t[512 + line[x * 3 + 2]];
      }
    }
  }
}

void run_job(Job& j) {
  Plan g;
  Region r;
  if (!decode_region(j, g, r)) return;
  std::vector<uint8_t> tmp;
  horizontal(j, g, r, tmp);
  vertical_and_write(j, g, r, tmp);
}

// ---- N-API ----

struct Failure {
  std::string code, message;
};

void check(napi_env, napi_status s, const char* what) {
  if (s != napi_ok) throw Failure{"E_INTERNAL", std::string("N-API: ") + what};
}

napi_value throw_failure(napi_env env, const Failure& f) {
  napi_throw_error(env, f.code.c_str(), f.message.c_str());
  return nullptr;
}

napi_value make_error(napi_env env, const std::string& code, const std::string& message) {
  napi_value c, m, e;
  napi_create_string_utf8(env, code.c_str(), code.size(), &c);
  napi_create_string_utf8(env, message.c_str(), message.size(), &m);
  napi_create_error(env, c, m, &e);
  return e;
}

// Fills a Job from (bytes: Uint8Array, params: Float64Array, out: Float32Array | Uint8Array, table:
// Float32Array | null), checking every length so no write leaves `out`.
void parse(napi_env env, napi_callback_info info, Job& j, napi_value args[4]) {
  size_t argc = 4;
  check(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), "get_cb_info");
  if (argc < 3) throw Failure{"E_INTERNAL", "decode(bytes, params, out, table?) takes 3-4 arguments"};
  bool is;
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t off;
  check(env, napi_is_typedarray(env, args[0], &is), "is_typedarray");
  if (!is) throw Failure{"E_INTERNAL", "decode: bytes must be a Uint8Array"};
  check(env, napi_get_typedarray_info(env, args[0], &type, &length, &data, &ab, &off), "typedarray_info");
  if (type != napi_uint8_array) throw Failure{"E_INTERNAL", "decode: bytes must be a Uint8Array"};
  j.bytes = static_cast<const uint8_t*>(data);
  j.length = length;
  check(env, napi_is_typedarray(env, args[1], &is), "is_typedarray");
  if (!is) throw Failure{"E_INTERNAL", "decode: params must be a Float64Array"};
  check(env, napi_get_typedarray_info(env, args[1], &type, &length, &data, &ab, &off), "typedarray_info");
  if (type != napi_float64_array || length != P_COUNT) throw Failure{"E_INTERNAL", "decode: params must be a Float64Array of " + std::to_string(P_COUNT)};
  std::memcpy(j.p, data, sizeof j.p);
  const double scale = j.p[P_SCALE];
  if (!(scale == 1 || scale == 2 || scale == 4 || scale == 8)) throw Failure{"E_INTERNAL", "decode: scale must be 1, 2, 4 or 8"};
  for (int i = P_OUT_W; i <= P_OFFSET; i++)
    if (!(j.p[i] >= 0 && j.p[i] == std::floor(j.p[i]) && j.p[i] < 9007199254740992.0)) throw Failure{"E_INTERNAL", "decode: params must be whole numbers"};
  check(env, napi_is_typedarray(env, args[2], &is), "is_typedarray");
  if (!is) throw Failure{"E_INTERNAL", "decode: out must be a Float32Array or a Uint8Array"};
  check(env, napi_get_typedarray_info(env, args[2], &type, &length, &data, &ab, &off), "typedarray_info");
  const size_t need = 3 * static_cast<size_t>(j.p[P_WIN_W]) * static_cast<size_t>(j.p[P_WIN_H]) + static_cast<size_t>(j.p[P_OFFSET]);
  if (type == napi_float32_array) {
    j.out = static_cast<float*>(data);
    napi_valuetype vt;
    check(env, napi_typeof(env, args[3], &vt), "typeof");
    if (argc < 4 || vt == napi_null || vt == napi_undefined) throw Failure{"E_INTERNAL", "decode: a Float32Array out needs the normalisation table"};
    size_t tl;
    void* td;
    napi_typedarray_type tt;
    check(env, napi_get_typedarray_info(env, args[3], &tt, &tl, &td, &ab, &off), "typedarray_info");
    if (tt != napi_float32_array || tl != 768) throw Failure{"E_INTERNAL", "decode: table must be a Float32Array of 768"};
    j.table = static_cast<const float*>(td);
  } else if (type == napi_uint8_array) {
    j.out8 = static_cast<uint8_t*>(data);
  } else {
    throw Failure{"E_INTERNAL", "decode: out must be a Float32Array or a Uint8Array"};
  }
  j.out_length = length;
  if (need > length) throw Failure{"E_INTERNAL", "decode: " + std::to_string(need) + " values do not fit an out of " + std::to_string(length)};
}

napi_value decode_sync(napi_env env, napi_callback_info info) {
  try {
    Job j;
    napi_value args[4];
    parse(env, info, j, args);
    run_job(j);
    if (!j.code.empty()) throw Failure{j.code, j.error};
    napi_value undef;
    napi_get_undefined(env, &undef);
    return undef;
  } catch (const Failure& f) {
    return throw_failure(env, f);
  } catch (const std::exception& e) {
    return throw_failure(env, Failure{"E_INTERNAL", e.what()});
  }
}

struct AsyncJob {
  Job job;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref refs[4] = {};  // keep the buffers alive while a worker reads and writes them
  std::string exception;
};

void async_execute(napi_env, void* data) {
  auto* a = static_cast<AsyncJob*>(data);
  try {
    run_job(a->job);
  } catch (const std::exception& e) {
    a->job.code = "E_INTERNAL";
    a->job.error = e.what();
  }
}

void async_complete(napi_env env, napi_status status, void* data) {
  auto* a = static_cast<AsyncJob*>(data);
  if (status != napi_ok && a->job.code.empty()) {
    a->job.code = "E_INTERNAL";
    a->job.error = "the decode was cancelled";
  }
  if (a->job.code.empty()) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, a->deferred, undef);
  } else {
    napi_reject_deferred(env, a->deferred, make_error(env, a->job.code, a->job.error));
  }
  for (napi_ref r : a->refs)
    if (r) napi_delete_reference(env, r);
  napi_delete_async_work(env, a->work);
  delete a;
}

napi_value decode_async(napi_env env, napi_callback_info info) {
  auto* a = new AsyncJob();
  try {
    napi_value args[4];
    parse(env, info, a->job, args);
    for (int i = 0; i < 4; i++) {
      napi_valuetype vt;
      check(env, napi_typeof(env, args[i], &vt), "typeof");
      if (vt == napi_object) check(env, napi_create_reference(env, args[i], 1, &a->refs[i]), "create_reference");
    }
    napi_value promise, name;
    check(env, napi_create_promise(env, &a->deferred, &promise), "create_promise");
    check(env, napi_create_string_utf8(env, "headstart_image.decode", NAPI_AUTO_LENGTH, &name), "string");
    check(env, napi_create_async_work(env, nullptr, name, async_execute, async_complete, a, &a->work), "create_async_work");
    check(env, napi_queue_async_work(env, a->work), "queue_async_work");
    return promise;
  } catch (const Failure& f) {
    for (napi_ref r : a->refs)
      if (r) napi_delete_reference(env, r);
    delete a;
    return throw_failure(env, f);
  }
}

napi_value libjpeg_version(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, JPEG_LIB_VERSION, &v);
  return v;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"decode", nullptr, decode_sync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodeAsync", nullptr, decode_async, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"libjpegVersion", nullptr, libjpeg_version, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
