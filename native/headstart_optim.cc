// headstart_optim.node: the optimisers' per-parameter updates (src/optim/sgd.ts, src/optim/adam.ts) in
// C++, split over threads for large tensors. No oneDNN: plain C++17 and std::thread.
//
// Bit-identical to the JS loops: every expression is evaluated in double in the same order as the JS
// source and rounded to float32 on store (compiled with -ffp-contract=off, no fast-math, so no fused
// multiply-add and no reassociation; sqrt is correctly rounded in both). The scalars arrive already
// rounded as the JS computes them (f32(lr), f32(1 - dampening), ...).
//
//   sgd(p, g, buf | null, lr, wd, mu, c, nesterov, first)
//     buf null: p -= lr·(g + wd·p)                                     (no momentum)
//     first:    d = g + wd·p; buf = d; p -= lr·k·d, k = nesterov ? 1 + mu : 1
//     else:     d = g + wd·p; b = mu·buf + c·d; buf = b; p -= lr·(nesterov ? d + mu·b : b)
//   adam(p, g, m, v, vmax | null, b1, c1, b2, c2, l2, decay, stepSize, invBc2Sqrt, eps)
//   setThreads(n) / getThreads(): threads for one call (tensors under 2^18 elements run on the caller).
//
// Calls are synchronous (the update is a few milliseconds; the caller's step awaits nothing else).
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "napi-guard.h"

namespace {

using hsnative::Failure;
using hsnative::guarded;

int g_threads = 0;  // 0: not set yet (the default below)

int defaultThreads() {
  unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::max(1u, std::min(hw == 0 ? 1u : hw, 4u)));
}

int threadCount() {
  if (g_threads == 0) g_threads = defaultThreads();
  return g_threads;
}

constexpr size_t kMinPerThread = size_t(1) << 17;
constexpr size_t kParallelFrom = size_t(1) << 18;

// Runs fn(begin, end) over [0, n) in chunks, one per thread (the caller takes the first).
template <typename F>
void parallelFor(size_t n, F&& fn) {
  size_t t = static_cast<size_t>(threadCount());
  if (n < kParallelFrom || t <= 1) {
    fn(size_t(0), n);
    return;
  }
  t = std::min(t, (n + kMinPerThread - 1) / kMinPerThread);
  size_t chunk = (n + t - 1) / t;
  chunk = (chunk + 15) & ~size_t(15);
  std::vector<std::thread> workers;
  workers.reserve(t - 1);
  for (size_t k = 1; k < t; k++) {
    size_t b = k * chunk, e = std::min(n, b + chunk);
    if (b >= e) break;
    workers.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(size_t(0), std::min(n, chunk));
  for (auto& w : workers) w.join();
}

// The kernels are compiled twice, for AVX2 and for the baseline, and the loader picks by CPU (GCC's
// function multi-versioning): 4-wide double arithmetic where the CPU has it. Either rounds the same
// (IEEE add/mul/div/sqrt, no FMA: -ffp-contract=off; -fno-math-errno only lets sqrt vectorise).
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
#define HS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HS_CLONES
#endif

// JS's Math.max on two doubles: NaN if either is NaN.
inline double jsMax(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return a > b ? a : b;
}

HS_CLONES void sgdPlain(float* p, const float* g, double lr, double wd, size_t b, size_t e) {
  for (size_t i = b; i < e; i++) {
    double pi = p[i];
    p[i] = static_cast<float>(pi - lr * (static_cast<double>(g[i]) + wd * pi));
  }
}

HS_CLONES void sgdFirst(float* p, const float* g, float* buf, double lr, double wd, double mu, bool nesterov, size_t b, size_t e) {
  const double k = nesterov ? 1 + mu : 1;
  for (size_t i = b; i < e; i++) {
    double pi = p[i];
    double d = static_cast<double>(g[i]) + wd * pi;
    buf[i] = static_cast<float>(d);
    p[i] = static_cast<float>(pi - lr * k * d);
  }
}

HS_CLONES void sgdMomentum(float* p, const float* g, float* buf, double lr, double wd, double mu, double c, bool nesterov, size_t b, size_t e) {
  if (nesterov) {
    for (size_t i = b; i < e; i++) {
      double pi = p[i];
      double d = static_cast<double>(g[i]) + wd * pi;
      double m = mu * static_cast<double>(buf[i]) + c * d;
      buf[i] = static_cast<float>(m);
      p[i] = static_cast<float>(pi - lr * (d + mu * m));
    }
  } else {
    for (size_t i = b; i < e; i++) {
      double pi = p[i];
      double m = mu * static_cast<double>(buf[i]) + c * (static_cast<double>(g[i]) + wd * pi);
      buf[i] = static_cast<float>(m);
      p[i] = static_cast<float>(pi - lr * m);
    }
  }
}

struct AdamScalars {
  double b1, c1, b2, c2, l2, decay, stepSize, invBc2Sqrt, eps;
};

HS_CLONES void adamRange(float* p, const float* g, float* m, float* v, float* vmax, const AdamScalars& s, size_t b, size_t e) {
  if (vmax == nullptr) {
    for (size_t i = b; i < e; i++) {
      double pi = p[i];
      double gi = static_cast<double>(g[i]) + s.l2 * pi;
      double mi = s.b1 * static_cast<double>(m[i]) + s.c1 * gi;
      double vi = s.b2 * static_cast<double>(v[i]) + s.c2 * gi * gi;
      m[i] = static_cast<float>(mi);
      v[i] = static_cast<float>(vi);
      double decayed = static_cast<float>(pi * s.decay);
      p[i] = static_cast<float>(decayed - (s.stepSize * mi) / (std::sqrt(vi) * s.invBc2Sqrt + s.eps));
    }
  } else {
    for (size_t i = b; i < e; i++) {
      double pi = p[i];
      double gi = static_cast<double>(g[i]) + s.l2 * pi;
      double mi = s.b1 * static_cast<double>(m[i]) + s.c1 * gi;
      double vi = s.b2 * static_cast<double>(v[i]) + s.c2 * gi * gi;
      m[i] = static_cast<float>(mi);
      v[i] = static_cast<float>(vi);
      double vm = jsMax(static_cast<double>(vmax[i]), vi);
      vmax[i] = static_cast<float>(vm);
      double decayed = static_cast<float>(pi * s.decay);
      p[i] = static_cast<float>(decayed - (s.stepSize * mi) / (std::sqrt(vm) * s.invBc2Sqrt + s.eps));
    }
  }
}

// ---- N-API plumbing ----

void check(napi_env env, napi_status st, const char* what) {
  if (st != napi_ok) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    throw Failure{"E_INTERNAL", std::string("headstart_optim: ") + what + ": " + (info && info->error_message ? info->error_message : "N-API call failed")};
  }
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t want) {
  size_t argc = want;
  std::vector<napi_value> argv(want);
  check(env, napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr), "reading arguments");
  if (argc < want) throw Failure{"E_BAD_ARGUMENT", "headstart_optim: expected " + std::to_string(want) + " arguments, found " + std::to_string(argc)};
  return argv;
}

bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t), "typeof");
  return t == napi_null || t == napi_undefined;
}

// A Float32Array's data and length; `name` names it in the error.
float* floats(napi_env env, napi_value v, const char* name, size_t* length) {
  bool isTyped = false;
  check(env, napi_is_typedarray(env, v, &isTyped), "is_typedarray");
  if (!isTyped) throw Failure{"E_BAD_ARGUMENT", std::string("headstart_optim: `") + name + "` must be a Float32Array"};
  napi_typedarray_type type;
  size_t len = 0;
  void* data = nullptr;
  check(env, napi_get_typedarray_info(env, v, &type, &len, &data, nullptr, nullptr), "typedarray_info");
  if (type != napi_float32_array) throw Failure{"E_BAD_ARGUMENT", std::string("headstart_optim: `") + name + "` must be a Float32Array"};
  *length = len;
  return static_cast<float*>(data);
}

float* floatsOfLength(napi_env env, napi_value v, const char* name, size_t n) {
  size_t len = 0;
  float* d = floats(env, v, name, &len);
  if (len != n) {
    throw Failure{"E_SHAPE_MISMATCH", std::string("headstart_optim: `") + name + "` has " + std::to_string(len) + " elements, the parameter has " + std::to_string(n)};
  }
  return d;
}

double number(napi_env env, napi_value v, const char* name) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw Failure{"E_BAD_ARGUMENT", std::string("headstart_optim: `") + name + "` must be a number"};
  return d;
}

bool boolean(napi_env env, napi_value v, const char* name) {
  bool b = false;
  if (napi_get_value_bool(env, v, &b) != napi_ok) throw Failure{"E_BAD_ARGUMENT", std::string("headstart_optim: `") + name + "` must be a boolean"};
  return b;
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Sgd(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 9);
    size_t n = 0;
    float* p = floats(env, a[0], "param", &n);
    const float* g = floatsOfLength(env, a[1], "grad", n);
    float* buf = isNullish(env, a[2]) ? nullptr : floatsOfLength(env, a[2], "momentumBuffer", n);
    double lr = number(env, a[3], "lr"), wd = number(env, a[4], "weightDecay"), mu = number(env, a[5], "momentum");
    double c = number(env, a[6], "1 - dampening");
    bool nesterov = boolean(env, a[7], "nesterov"), first = boolean(env, a[8], "first");
    if (buf == nullptr) {
      parallelFor(n, [&](size_t b, size_t e) { sgdPlain(p, g, lr, wd, b, e); });
    } else if (first) {
      parallelFor(n, [&](size_t b, size_t e) { sgdFirst(p, g, buf, lr, wd, mu, nesterov, b, e); });
    } else {
      parallelFor(n, [&](size_t b, size_t e) { sgdMomentum(p, g, buf, lr, wd, mu, c, nesterov, b, e); });
    }
    return undefinedValue(env);
  });
}

napi_value Adam(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 14);
    size_t n = 0;
    float* p = floats(env, a[0], "param", &n);
    const float* g = floatsOfLength(env, a[1], "grad", n);
    float* m = floatsOfLength(env, a[2], "expAvg", n);
    float* v = floatsOfLength(env, a[3], "expAvgSq", n);
    float* vmax = isNullish(env, a[4]) ? nullptr : floatsOfLength(env, a[4], "maxExpAvgSq", n);
    AdamScalars s{number(env, a[5], "b1"),    number(env, a[6], "c1"),       number(env, a[7], "b2"),
                  number(env, a[8], "c2"),    number(env, a[9], "l2"),       number(env, a[10], "decay"),
                  number(env, a[11], "stepSize"), number(env, a[12], "invBc2Sqrt"), number(env, a[13], "eps")};
    parallelFor(n, [&](size_t b, size_t e) { adamRange(p, g, m, v, vmax, s, b, e); });
    return undefinedValue(env);
  });
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 1);
    double t = number(env, a[0], "threads");
    if (!(t >= 1 && t <= 1024) || std::floor(t) != t) {
      throw Failure{"E_BAD_ARGUMENT", "headstart_optim: setThreads expects an integer from 1 to 1024, found " + std::to_string(t)};
    }
    g_threads = static_cast<int>(t);
    return undefinedValue(env);
  });
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value out;
    check(env, napi_create_int32(env, threadCount(), &out), "create_int32");
    return out;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgd", nullptr, Sgd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adam", nullptr, Adam, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"getThreads", nullptr, GetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
