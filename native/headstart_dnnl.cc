// headstart's optional native convolution prototype (issue 10, lever 6): fp32 2-D convolution
// forward, backward-data and backward-weights on oneDNN (Debian's libdnnl-dev), exposed to Node
// through N-API (ABI-stable: one build serves every Node >= 20 on the machine).
//
// Every call takes and returns plain NCHW / OIHW float32 buffers (the caller allocates the
// output); inside, oneDNN picks its blocked layouts (format_tag::any) and the addon reorders
// explicitly, timing the reorders apart from the convolution itself (stats()). Primitives,
// reorders and the blocked scratch buffers are cached per shape. Calls are synchronous on the
// calling thread; oneDNN runs them on its OpenMP team (setThreads).
//
// JS API (see src/engine/native-conv.ts for the typed wrapper):
//   info() -> { dnnl: "2.6.3", isa: <number>, threads }
//   setThreads(n)
//   forward(spec, x, w, y)          y  <- conv(x, w)
//   backwardData(spec, dy, w, dx)   dx <- dL/dx given dy = dL/dy
//   backwardWeights(spec, x, dy, dw) dw <- dL/dw
//   stats() -> { reorderMs, computeMs, createMs, primitives }; resetStats()
// spec = { x: [N, C, H, W], w: [M, C/group, kH, kW], strides: [sh, sw], pads: [top, left, bottom, right],
//          dilations: [dh, dw], group }
#include <node_api.h>
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "napi-guard.h"

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// The all-native training step's plan executor (headstart_plan.cc) adds its functions here.
void RegisterPlanExports(napi_env env, napi_value exports);

namespace {

using hsnative::Failure;
using hsnative::guarded;

struct Spec {
  int64_t n, c, h, w, m, cg, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, group, oh, ow;
  std::string key() const {
    std::string k;
    for (int64_t v : {n, c, h, w, m, cg, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, group}) k += std::to_string(v) + ",";
    return k;
  }
  size_t xSize() const { return size_t(n * c * h * w); }
  size_t wSize() const { return size_t(m * cg * kh * kw); }
  size_t ySize() const { return size_t(n * m * oh * ow); }
};

struct Stats {
  double reorderMs = 0, computeMs = 0, createMs = 0;
};

dnnl::engine& cpu() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}
dnnl::stream& stream() {
  static dnnl::stream s(cpu());
  return s;
}
Stats stats;
int threads = 0;

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// One argument of a primitive: the caller's plain buffer and, when oneDNN wants another layout,
// a cached blocked buffer with the reorder between them.
struct Port {
  memory user;
  memory inner;
  dnnl::reorder toInner, toUser;
  bool blocked = false;
  Port(const memory::desc& plain, const memory::desc& wanted, bool input) {
    user = memory(plain, cpu(), nullptr);
    blocked = plain != wanted;
    if (blocked) {
      inner = memory(wanted, cpu());
      if (input) toInner = dnnl::reorder(user, inner);
      else toUser = dnnl::reorder(inner, user);
    } else {
      inner = user;
    }
  }
  const memory& bindInput(float* data) {
    user.set_data_handle(data);
    if (blocked) {
      auto t = std::chrono::steady_clock::now();
      toInner.execute(stream(), user, inner);
      stream().wait();
      stats.reorderMs += since(t);
    }
    return inner;
  }
  const memory& bindOutput(float* data) {
    user.set_data_handle(data);
    return inner;
  }
  void finishOutput() {
    if (!blocked) return;
    auto t = std::chrono::steady_clock::now();
    toUser.execute(stream(), inner, user);
    stream().wait();
    stats.reorderMs += since(t);
  }
};

struct Forward {
  dnnl::convolution_forward prim;
  std::unique_ptr<Port> x, w, y;
};
struct BackwardData {
  dnnl::convolution_backward_data prim;
  std::unique_ptr<Port> dy, w, dx;
};
struct BackwardWeights {
  dnnl::convolution_backward_weights prim;
  std::unique_ptr<Port> x, dy, dw;
};

struct Layer {
  memory::desc xPlain, wPlain, yPlain, xAny, wAny, yAny;
  memory::dims strides, dilates, padL, padR;
  std::unique_ptr<dnnl::convolution_forward::primitive_desc> fwdPd;
  std::unique_ptr<Forward> fwd;
  std::unique_ptr<BackwardData> bwdData;
  std::unique_ptr<BackwardWeights> bwdWeights;

  explicit Layer(const Spec& s) {
    xPlain = memory::desc({s.n, s.c, s.h, s.w}, dt::f32, tag::nchw);
    yPlain = memory::desc({s.n, s.m, s.oh, s.ow}, dt::f32, tag::nchw);
    if (s.group == 1) {
      wPlain = memory::desc({s.m, s.cg, s.kh, s.kw}, dt::f32, tag::oihw);
      wAny = memory::desc({s.m, s.cg, s.kh, s.kw}, dt::f32, tag::any);
    } else {
      // The same bytes as OIHW: [group, M/group, C/group, kH, kW].
      wPlain = memory::desc({s.group, s.m / s.group, s.cg, s.kh, s.kw}, dt::f32, tag::goihw);
      wAny = memory::desc({s.group, s.m / s.group, s.cg, s.kh, s.kw}, dt::f32, tag::any);
    }
    xAny = memory::desc({s.n, s.c, s.h, s.w}, dt::f32, tag::any);
    yAny = memory::desc({s.n, s.m, s.oh, s.ow}, dt::f32, tag::any);
    strides = {s.sh, s.sw};
    dilates = {s.dh - 1, s.dw - 1};  // oneDNN counts the gaps: 0 is no dilation
    padL = {s.pt, s.pl};
    padR = {s.pb, s.pr};
    auto t = std::chrono::steady_clock::now();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, xAny, wAny, yAny, strides, dilates, padL,
                                      padR);
    fwdPd = std::make_unique<dnnl::convolution_forward::primitive_desc>(d, cpu());
    stats.createMs += since(t);
  }

  Forward& forward() {
    if (!fwd) {
      auto t = std::chrono::steady_clock::now();
      fwd = std::make_unique<Forward>();
      fwd->prim = dnnl::convolution_forward(*fwdPd);
      fwd->x = std::make_unique<Port>(xPlain, fwdPd->src_desc(), true);
      fwd->w = std::make_unique<Port>(wPlain, fwdPd->weights_desc(), true);
      fwd->y = std::make_unique<Port>(yPlain, fwdPd->dst_desc(), false);
      stats.createMs += since(t);
    }
    return *fwd;
  }
  BackwardData& backwardData() {
    if (!bwdData) {
      auto t = std::chrono::steady_clock::now();
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, xAny, wAny, yAny, strides, dilates, padL, padR);
      dnnl::convolution_backward_data::primitive_desc pd(d, cpu(), *fwdPd);
      bwdData = std::make_unique<BackwardData>();
      bwdData->prim = dnnl::convolution_backward_data(pd);
      bwdData->dy = std::make_unique<Port>(yPlain, pd.diff_dst_desc(), true);
      bwdData->w = std::make_unique<Port>(wPlain, pd.weights_desc(), true);
      bwdData->dx = std::make_unique<Port>(xPlain, pd.diff_src_desc(), false);
      stats.createMs += since(t);
    }
    return *bwdData;
  }
  BackwardWeights& backwardWeights() {
    if (!bwdWeights) {
      auto t = std::chrono::steady_clock::now();
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, xAny, wAny, yAny, strides, dilates, padL, padR);
      dnnl::convolution_backward_weights::primitive_desc pd(d, cpu(), *fwdPd);
      bwdWeights = std::make_unique<BackwardWeights>();
      bwdWeights->prim = dnnl::convolution_backward_weights(pd);
      bwdWeights->x = std::make_unique<Port>(xPlain, pd.src_desc(), true);
      bwdWeights->dy = std::make_unique<Port>(yPlain, pd.diff_dst_desc(), true);
      bwdWeights->dw = std::make_unique<Port>(wPlain, pd.diff_weights_desc(), false);
      stats.createMs += since(t);
    }
    return *bwdWeights;
  }
};

std::map<std::string, std::unique_ptr<Layer>> layers;

Layer& layerFor(const Spec& s) {
  auto key = s.key();
  auto it = layers.find(key);
  if (it != layers.end()) return *it->second;
  auto& slot = layers[key];
  slot = std::make_unique<Layer>(s);
  return *slot;
}

void run(dnnl::primitive& prim, const std::unordered_map<int, memory>& args) {
  auto t = std::chrono::steady_clock::now();
  prim.execute(stream(), args);
  stream().wait();
  stats.computeMs += since(t);
}

// ---- N-API helpers -------------------------------------------------------------------------

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) throw Failure{"E_INTERNAL", "N-API call failed: " #call}; \
  } while (0)

std::vector<int64_t> ints(napi_env env, napi_value obj, const char* name, size_t count, const std::vector<int64_t>& fallback) {
  bool has = false;
  CHECK(napi_has_named_property(env, obj, name, &has));
  if (!has) {
    if (fallback.empty()) throw Failure{"E_BAD_ARGUMENT", std::string("spec.") + name + " is missing"};
    return fallback;
  }
  napi_value arr;
  CHECK(napi_get_named_property(env, obj, name, &arr));
  bool isArray = false;
  CHECK(napi_is_array(env, arr, &isArray));
  uint32_t len = 0;
  if (isArray) CHECK(napi_get_array_length(env, arr, &len));
  if (!isArray || len != count)
    throw Failure{"E_BAD_ARGUMENT", std::string("spec.") + name + " must be an array of " + std::to_string(count) + " integers"};
  std::vector<int64_t> out(count);
  for (uint32_t i = 0; i < len; i++) {
    napi_value v;
    CHECK(napi_get_element(env, arr, i, &v));
    double d = 0;
    if (napi_get_value_double(env, v, &d) != napi_ok || d != double(int64_t(d)))
      throw Failure{"E_BAD_ARGUMENT", std::string("spec.") + name + " must hold integers"};
    out[i] = int64_t(d);
  }
  return out;
}

Spec parseSpec(napi_env env, napi_value obj) {
  napi_valuetype type;
  CHECK(napi_typeof(env, obj, &type));
  if (type != napi_object) throw Failure{"E_BAD_ARGUMENT", "the first argument must be a convolution spec object"};
  auto x = ints(env, obj, "x", 4, {});
  auto w = ints(env, obj, "w", 4, {});
  auto st = ints(env, obj, "strides", 2, {1, 1});
  auto pads = ints(env, obj, "pads", 4, {0, 0, 0, 0});
  auto dil = ints(env, obj, "dilations", 2, {1, 1});
  bool hasGroup = false;
  CHECK(napi_has_named_property(env, obj, "group", &hasGroup));
  int64_t g = 1;
  if (hasGroup) {
    napi_value v;
    CHECK(napi_get_named_property(env, obj, "group", &v));
    double d = 0;
    if (napi_get_value_double(env, v, &d) != napi_ok || d != double(int64_t(d))) throw Failure{"E_BAD_ARGUMENT", "spec.group must be an integer"};
    g = int64_t(d);
  }
  Spec s{x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], st[0], st[1], pads[0], pads[1], pads[2], pads[3], dil[0], dil[1], g, 0, 0};
  for (int64_t v : {s.n, s.c, s.h, s.w, s.m, s.cg, s.kh, s.kw, s.sh, s.sw, s.dh, s.dw, s.group})
    if (v < 1) throw Failure{"E_BAD_ARGUMENT", "sizes, strides, dilations and group must be positive"};
  for (int64_t v : {s.pt, s.pl, s.pb, s.pr})
    if (v < 0) throw Failure{"E_BAD_ARGUMENT", "pads must not be negative"};
  if (s.c != s.cg * s.group || s.m % s.group != 0)
    throw Failure{"E_SHAPE_MISMATCH", "input channels " + std::to_string(s.c) + " must equal weight channels " + std::to_string(s.cg) + " x group " +
                                          std::to_string(s.group) + ", and output channels must divide by group"};
  int64_t ekh = (s.kh - 1) * s.dh + 1, ekw = (s.kw - 1) * s.dw + 1;
  int64_t hp = s.h + s.pt + s.pb, wp = s.w + s.pl + s.pr;
  if (hp < ekh || wp < ekw) throw Failure{"E_SHAPE_MISMATCH", "the kernel is larger than the padded input"};
  s.oh = (hp - ekh) / s.sh + 1;
  s.ow = (wp - ekw) / s.sw + 1;
  return s;
}

float* floats(napi_env env, napi_value v, size_t expected, const char* name) {
  bool isTyped = false;
  CHECK(napi_is_typedarray(env, v, &isTyped));
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (isTyped) CHECK(napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (!isTyped || type != napi_float32_array) throw Failure{"E_BAD_ARGUMENT", std::string(name) + " must be a Float32Array"};
  if (length != expected)
    throw Failure{"E_SHAPE_MISMATCH", std::string(name) + " holds " + std::to_string(length) + " floats, the spec needs " + std::to_string(expected)};
  return static_cast<float*>(data);
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t count) {
  std::vector<napi_value> argv(count);
  size_t argc = count;
  CHECK(napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr));
  if (argc < count) throw Failure{"E_BAD_ARGUMENT", "expected " + std::to_string(count) + " arguments, got " + std::to_string(argc)};
  return argv;
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Forward_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    Spec s = parseSpec(env, a[0]);
    float* x = floats(env, a[1], s.xSize(), "x");
    float* w = floats(env, a[2], s.wSize(), "w");
    float* y = floats(env, a[3], s.ySize(), "y");
    auto& f = layerFor(s).forward();
    const memory& xm = f.x->bindInput(x);
    const memory& wm = f.w->bindInput(w);
    const memory& ym = f.y->bindOutput(y);
    run(f.prim, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
    f.y->finishOutput();
    return undefinedValue(env);
  });
}

napi_value BackwardData_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    Spec s = parseSpec(env, a[0]);
    float* dy = floats(env, a[1], s.ySize(), "dy");
    float* w = floats(env, a[2], s.wSize(), "w");
    float* dx = floats(env, a[3], s.xSize(), "dx");
    auto& b = layerFor(s).backwardData();
    const memory& dym = b.dy->bindInput(dy);
    const memory& wm = b.w->bindInput(w);
    const memory& dxm = b.dx->bindOutput(dx);
    run(b.prim, {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
    b.dx->finishOutput();
    return undefinedValue(env);
  });
}

napi_value BackwardWeights_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    Spec s = parseSpec(env, a[0]);
    float* x = floats(env, a[1], s.xSize(), "x");
    float* dy = floats(env, a[2], s.ySize(), "dy");
    float* dw = floats(env, a[3], s.wSize(), "dw");
    auto& b = layerFor(s).backwardWeights();
    const memory& xm = b.x->bindInput(x);
    const memory& dym = b.dy->bindInput(dy);
    const memory& dwm = b.dw->bindOutput(dw);
    run(b.prim, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}});
    b.dw->finishOutput();
    return undefinedValue(env);
  });
}

void setNumber(napi_env env, napi_value obj, const char* name, double v) {
  napi_value n;
  CHECK(napi_create_double(env, v, &n));
  CHECK(napi_set_named_property(env, obj, name, n));
}

napi_value Info_(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value obj;
    CHECK(napi_create_object(env, &obj));
    const dnnl_version_t* v = dnnl_version();
    std::string version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    napi_value str;
    CHECK(napi_create_string_utf8(env, version.c_str(), version.size(), &str));
    CHECK(napi_set_named_property(env, obj, "dnnl", str));
    setNumber(env, obj, "isa", double(dnnl::get_effective_cpu_isa()));
    setNumber(env, obj, "threads", threads > 0 ? threads : omp_get_max_threads());
    return obj;
  });
}

napi_value SetThreads_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 1);
    int32_t n = 0;
    if (napi_get_value_int32(env, a[0], &n) != napi_ok || n < 1) throw Failure{"E_BAD_ARGUMENT", "setThreads needs a positive integer"};
    threads = n;
    omp_set_num_threads(n);
    return undefinedValue(env);
  });
}

napi_value Stats_(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value obj;
    CHECK(napi_create_object(env, &obj));
    setNumber(env, obj, "reorderMs", stats.reorderMs);
    setNumber(env, obj, "computeMs", stats.computeMs);
    setNumber(env, obj, "createMs", stats.createMs);
    setNumber(env, obj, "layers", double(layers.size()));
    return obj;
  });
}

napi_value ResetStats_(napi_env env, napi_callback_info) {
  stats = Stats{};
  return undefinedValue(env);
}

napi_value Init(napi_env env, napi_value exports) {
  RegisterPlanExports(env, exports);
  napi_property_descriptor props[] = {
      {"info", nullptr, Info_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"forward", nullptr, Forward_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"backwardData", nullptr, BackwardData_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"backwardWeights", nullptr, BackwardWeights_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"stats", nullptr, Stats_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"resetStats", nullptr, ResetStats_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
