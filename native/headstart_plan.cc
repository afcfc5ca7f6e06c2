// headstart's all-native training step (issue 10): a plan executor on oneDNN.
//
// JS compiles a network once into a plan (src/engine/native-plan.ts: tensors with their NCHW shapes,
// an op list with tensor ids, parameter ids and attributes). createPlan builds every oneDNN primitive
// and every buffer once: activations live in the layouts the primitives choose (format_tag::any,
// blocked on AVX-512/AVX2), and stay there for the whole step; every buffer gets an offset in one arena
// by its lifetime over the step (placeBuffers), so buffers that are never alive together share bytes.
// A step then runs forward, the softmax cross-entropy, and backward in C++ with no allocation:
//   - the image batch is reordered once (plain NCHW -> the stem's layout);
//   - each convolution weight is reordered once per step (plain OIHW -> blocked), shared by the
//     forward and backward-data primitives when they want the same layout;
//   - BatchNorm+ReLU run as one primitive (fuse_norm_relu, its mask in a workspace), Add+ReLU as one
//     binary primitive with a ReLU post-op; MaxPool keeps its workspace;
//   - gradients of BatchNorm's scale/shift are written straight into the caller's arrays, convolution
//     weight gradients are reordered into them (plain OIHW); the classifier (Gemm) is an inner product
//     on plain [N, C], the softmax cross-entropy a loop in double;
//   - an activation used twice (a residual block's input) accumulates its gradient with one in-place
//     binary add; an Add passes its output gradient to both inputs without a copy.
// The step runs on a libuv worker (a Promise in JS), on oneDNN's OpenMP team sized by the plan.
// EfficientNet / MobileNetV3 (buildForwardExtra / buildBackwardExtra): eltwise sigmoid, SiLU, hard-swish
// and linear (HardSigmoid = linear + clip), the squeeze-excitation product and a linear layer inside the
// network; 1x1 convolutions with bias; depthwise weight gradients by a loop where oneDNN has no jit_dw kernel.
//
// JS API (the typed wrapper is src/engine/native-plan.ts):
//   createPlan({ train, threads, tensors: Int32Array(4T), ops: Int32Array(REC*ops), opFloats:
//               Float64Array(2*ops), paramSizes: Int32Array, trainable: Int32Array }) -> plan
//   runPlan(plan, images, coefficients|null, params[], grads[] (Float32Array|null), logits, loss,
//           dropoutMask|null ([N, F], for a plan whose classifier has F_DROPOUT),
//           rowMasks|null (the ROWSCALE ops' per-sample factors, N each, at their offsets k)) -> Promise
//   planStats(plan) -> { names: string[], ms: number[], steps }, planReset(plan), planRelease(plan)
#include <node_api.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "napi-guard.h"
#include "bn-stats.h"

namespace hsplan {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using algo = dnnl::algorithm;
using pk = dnnl::prop_kind;
using nf = dnnl::normalization_flags;

using hsnative::Failure;
using hsnative::guarded;

enum OpType { CONV = 1, BN = 2, RELU = 3, MAXPOOL = 4, ADD = 5, GAP = 6, GEMM = 7, CLIP = 8, ELTWISE = 9, MUL = 10, FC = 11, ROWSCALE = 12 };
// ELTWISE: k selects the function (EltKind), the op's two floats are its alpha and beta.
enum EltKind { E_SIGMOID = 1, E_SWISH = 2, E_HARDSWISH = 3, E_LINEAR = 4 };
// One op record: type, in0, in1, out, w, p1, p2, p3, k, s, pt, pl, pb, pr, flags, groups.
// Two floats per op: BatchNorm's eps and momentum; Clip's lower and upper bound; ELTWISE's alpha and beta.
// CONV and FC: p1 is the bias parameter (or -1). MUL: in0 [N, C, H, W] times in1 [N, C, 1, 1] (squeeze-excitation).
// ROWSCALE: in0 [N, ...] times a per-sample factor m[n] = rowMasks[k + n] fed at each step (stochastic depth's
// row mask, 0 or 1/(1-p)); backward dx = dy * m[n], no gradient for the mask.
constexpr int REC = 16;
// F_DROPOUT (on the classifier): its input features are multiplied by the mask runPlan receives.
enum Flags { F_TRAINING = 1, F_RELU = 2, F_DROPOUT = 4 };

// HEADSTART_NATIVE_BN_STATS=dnnl lets oneDNN sum the BatchNorm batch statistics in float (the
// default sums them in double, bn-stats.h).
static bool bnStatsDoubleWanted() {
  const char* v = getenv("HEADSTART_NATIVE_BN_STATS");
  return !(v && std::string(v) == "dnnl");
}

enum Stat {
  S_CONV_FWD,
  S_CONV_BWD_DATA,
  S_CONV_BWD_WEIGHTS,
  S_BN_FWD,
  S_BN_BWD,
  S_ELTWISE_FWD,
  S_ELTWISE_BWD,
  S_POOL_FWD,
  S_POOL_BWD,
  S_REORDER_WEIGHTS,
  S_REORDER_ACT,
  S_ACCUMULATE,
  S_HEAD_LOSS,
  S_RUNNING,
  S_COUNT
};
const char* STAT_NAMES[S_COUNT] = {"conv forward", "conv backward-data", "conv backward-weights", "batchnorm forward", "batchnorm backward",
                                   "relu/add forward", "relu/add backward", "pool forward", "pool backward", "weight reorders",
                                   "activation reorders", "gradient accumulation", "classifier + loss", "running statistics"};

struct Op {
  int type, in0, in1, out, w, p1, p2, p3, k, s, pt, pl, pb, pr, flags, groups;
  double eps, momentum;
};

struct Tensor {
  memory::dims dims;
  memory::desc md;
  memory val;
  bool req = false;  // needs a gradient
  int producer = -1;
  // Gradient bookkeeping while the backward schedule is built (in reverse op order).
  enum { NONE, ALIAS, OWN } state = NONE;
  memory own, alias;
  memory diff() const { return state == OWN ? own : alias; }
};

struct Exec {
  int stat;
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  std::function<void()> fn;  // plain C++ work instead of a primitive
  std::vector<memory> uses;  // the buffers fn reads or writes (for their lifetimes)
};

dnnl::engine& cpu() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

memory::desc plainDesc(const memory::dims& d) {
  return memory::desc(d, dt::f32, d.size() == 4 ? tag::nchw : d.size() == 2 ? tag::nc : tag::a);
}
memory::desc anyDesc(const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); }
// A convolution's weight dims: OIHW, or GOIHW for grouped/depthwise ones (the same plain memory as
// the caller's [O, I/groups, k, k] array).
memory::dims convWeightDims(int groups, memory::dim out, memory::dim in, memory::dim k) {
  if (groups <= 1) return {out, in, k, k};
  return {groups, out / groups, in / groups, k, k};
}
memory::desc convWeightPlain(const memory::dims& wd) { return memory::desc(wd, dt::f32, wd.size() == 5 ? tag::goihw : tag::oihw); }
// A convolution primitive descriptor for the chosen algorithm, or for the direct one where oneDNN has no
// implementation of it for this shape (Winograd: 3x3 stride 1 only).
template <typename MakePd>
auto withDirectFallback(algo chosen, MakePd makePd) -> decltype(makePd(chosen)) {
  try {
    return makePd(chosen);
  } catch (const dnnl::error&) {
    if (chosen == algo::convolution_direct) throw;
    return makePd(algo::convolution_direct);
  }
}
// The same oneDNN memory object (copies of a memory share one handle; buffers have no storage while the plan is built).
bool same(const memory& a, const memory& b) { return a && b && a.get() == b.get(); }
size_t numel(const memory::dims& d) {
  size_t n = 1;
  for (auto v : d) n *= size_t(v);
  return n;
}

struct Plan {
  bool train = true;
  int threads = 1;
  std::vector<Tensor> t;
  std::vector<Op> ops;
  std::vector<int> paramSize, trainable;
  // Plain views of the caller's parameters / gradients (handles set at every step).
  std::vector<memory> paramMem, gradMem;
  std::vector<float*> paramPtr, gradPtr;
  std::vector<Exec> fwd, bwd;
  memory scratch;  // oneDNN scratchpad shared by every primitive (user mode)
  size_t scratchBytes = 0;
  // Buffers placed by liveness: every activation, gradient, workspace and temporary the plan makes is
  // created without storage (buf/view) and gets an offset in one arena once the op lists are built;
  // two buffers share bytes only when no exec in [first use, last use] of one touches the other.
  std::vector<memory> arenaMem;
  std::vector<int> arenaBase;  // -1, or the buffer whose storage this view shares
  std::unordered_map<dnnl_memory_t, int> arenaIndex;
  float* arena = nullptr;
  size_t arenaBytes = 0, arenaNaiveBytes = 0;
  ~Plan() { std::free(arena); }
  memory buf(const memory::desc& md) {
    memory m(md, cpu(), nullptr);
    arenaIndex[m.get()] = int(arenaMem.size());
    arenaMem.push_back(m);
    arenaBase.push_back(-1);
    return m;
  }
  // Another desc over the same storage as `of` (a reshape).
  memory view(const memory::desc& md, const memory& of) {
    auto it = arenaIndex.find(of.get());
    if (it == arenaIndex.end()) return memory(md, cpu(), of.get_data_handle());
    memory m(md, cpu(), nullptr);
    arenaIndex[m.get()] = int(arenaMem.size());
    arenaMem.push_back(m);
    arenaBase.push_back(arenaBase[it->second] >= 0 ? arenaBase[it->second] : it->second);
    return m;
  }
  void placeBuffers();
  memory imagesUser;
  float *images = nullptr, *coeffs = nullptr, *logits = nullptr;
  double* loss = nullptr;
  // Classifier: features (plain [N, F]) -> logits [N, K].
  int headOp = -1, N = 0, F = 0, K = 0;
  memory featPlain, dfeatPlain, logitsMem;
  // The head's dropout: featPlain is then the masked copy featDropped; mask is the caller's [N, F].
  bool dropout = false;
  memory featDropped;
  float* mask = nullptr;
  // ROWSCALE ops' masks: the caller's array of rowMaskLen floats (each op reads N of them from its offset k).
  float* rowMask = nullptr;
  size_t rowMaskLen = 0;
  std::vector<float> dlogits;
  // BatchNorm batch statistics (training mode), per op.
  std::unordered_map<int, std::pair<memory, memory>> bnStats;
  std::vector<double> ms = std::vector<double>(S_COUNT, 0.0);
  double steps = 0;
  bool busy = false;
  bool released = false;
  algo preferredConvAlgo = algo::convolution_direct;
  // MUL: its gate as the forward read it (plain [N, C, 1, 1]); FC: its input (plain).
  std::unordered_map<int, memory> opInput;
  std::vector<algo> convAlgo;
  bool probeConvAlgo = false;  // HEADSTART_NATIVE_CONV_ALGO=auto: direct or Winograd per convolution, by timing
  bool shapeConvAlgo = true;   // the default (HEADSTART_NATIVE_CONV_ALGO unset or shape): winogradByShape
  algo fasterConvAlgo(const Op& o, const memory::dims& src, const memory::dims& wd, const memory::dims& dst);

  dnnl::primitive_attr attr() const {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }
  template <typename PD>
  void noteScratch(const PD& pd) {
    scratchBytes = std::max(scratchBytes, pd.scratchpad_desc().get_size());
  }
  void add(std::vector<Exec>& list, int stat, dnnl::primitive p, std::unordered_map<int, memory> args) {
    list.push_back(Exec{stat, p, std::move(args), nullptr});
  }
  void addFn(std::vector<Exec>& list, int stat, std::function<void()> fn, std::vector<memory> uses) {
    list.push_back(Exec{stat, dnnl::primitive(), {}, std::move(fn), std::move(uses)});
  }
  // A reorder src -> dst (both memories fixed at plan time).
  void reorder(std::vector<Exec>& list, int stat, const memory& src, const memory& dst) {
    add(list, stat, dnnl::reorder(src, dst), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
  }
  // The value of tensor i in layout `want`: itself, or a reorder into a buffer of the op's own.
  memory valueAs(std::vector<Exec>& list, int i, const memory::desc& want) {
    if (t[i].md == want) return t[i].val;
    memory m = buf(want);
    reorder(list, S_REORDER_ACT, t[i].val, m);
    return m;
  }
  bool param(int p) const { return p >= 0 && p < int(paramSize.size()); }
  bool wantsGrad(int p) const { return train && param(p) && trainable[p]; }

  void build(const Op* list, size_t count);
  void buildForward(int index);
  void buildBackward(int index);
  // The ops of EfficientNet / MobileNetV3 (ELTWISE, MUL, FC): false for any other type.
  bool buildForwardExtra(int index);
  bool buildBackwardExtra(int index);
  // A depthwise convolution's weight gradient where oneDNN has no jit_dw kernel for it (5x5): false otherwise.
  bool depthwiseWeightsGrad(int index, const std::string& onednnImpl);
  // Gradient contributions to tensor i: `writeTarget` gives the memory (in t[i].md) a primitive
  // should write its contribution into; `finishContribution` adds it to what was there.
  memory contributionTarget(int i);
  void finishContribution(int i, const memory& target);
  void contributeAlias(int i, const memory& m);
  void contributeFrom(std::vector<Exec>& list, int i, const memory& m);
  void run();
};

memory Plan::contributionTarget(int i) {
  Tensor& x = t[i];
  if (x.state == Tensor::OWN) return buf(x.md);  // a temporary, added to x.own right after
  if (!x.own) x.own = buf(x.md);
  return x.own;
}

void Plan::finishContribution(int i, const memory& target) {
  Tensor& x = t[i];
  if (x.state == Tensor::OWN) {
    // own += target (target lives in the shared accumulation buffer).
    dnnl::binary::desc d(algo::binary_add, x.md, x.md, x.md);
    dnnl::binary::primitive_desc pd(d, attr(), cpu());
    noteScratch(pd);
    add(bwd, S_ACCUMULATE, dnnl::binary(pd), {{DNNL_ARG_SRC_0, x.own}, {DNNL_ARG_SRC_1, target}, {DNNL_ARG_DST, x.own}});
    return;
  }
  if (x.state == Tensor::ALIAS) {
    dnnl::binary::desc d(algo::binary_add, x.md, x.md, x.md);
    dnnl::binary::primitive_desc pd(d, attr(), cpu());
    noteScratch(pd);
    add(bwd, S_ACCUMULATE, dnnl::binary(pd), {{DNNL_ARG_SRC_0, x.own}, {DNNL_ARG_SRC_1, x.alias}, {DNNL_ARG_DST, x.own}});
  }
  x.state = Tensor::OWN;
}

void Plan::contributeAlias(int i, const memory& m) {
  Tensor& x = t[i];
  if (m.get_desc() != x.md) {
    contributeFrom(bwd, i, m);
    return;
  }
  if (x.state == Tensor::NONE) {
    x.state = Tensor::ALIAS;
    x.alias = m;
    return;
  }
  if (!x.own) x.own = buf(x.md);
  dnnl::binary::desc d(algo::binary_add, x.md, x.md, x.md);
  dnnl::binary::primitive_desc pd(d, attr(), cpu());
  noteScratch(pd);
  add(bwd, S_ACCUMULATE, dnnl::binary(pd), {{DNNL_ARG_SRC_0, x.diff()}, {DNNL_ARG_SRC_1, m}, {DNNL_ARG_DST, x.own}});
  x.state = Tensor::OWN;
}

// A contribution already computed into m (any layout): reordered into place, then accumulated.
void Plan::contributeFrom(std::vector<Exec>& list, int i, const memory& m) {
  memory target = contributionTarget(i);
  reorder(list, S_REORDER_ACT, m, target);
  finishContribution(i, target);
}

void Plan::build(const Op* list, size_t count) {
  ops.assign(list, list + count);
  convAlgo.assign(ops.size(), algo::convolution_direct);
  if (const char* a = getenv("HEADSTART_NATIVE_CONV_ALGO")) {
    std::string v(a);
    if (v != "shape" && v != "direct" && v != "winograd" && v != "auto" && !v.empty())
      throw Failure{"E_BAD_ARGUMENT", "HEADSTART_NATIVE_CONV_ALGO: expected shape (the default), direct, winograd or auto, found '" + v + "'"};
    if (v == "direct" || v == "winograd" || v == "auto") shapeConvAlgo = false;
    if (v == "winograd") preferredConvAlgo = algo::convolution_winograd;
    if (v == "auto") probeConvAlgo = true;
  }
  // Which tensors need a gradient: produced from one that does, or by an op with a trained parameter.
  for (size_t j = 0; j < ops.size(); ++j) {
    const Op& o = ops[j];
    bool req = false;
    if (o.in0 >= 0 && t[o.in0].req) req = true;
    if (o.in1 >= 0 && t[o.in1].req) req = true;
    if (wantsGrad(o.w) || ((o.type == BN || o.type == GEMM || o.type == CONV || o.type == FC) && wantsGrad(o.p1))) req = true;
    t[o.out].req = train && req;
    t[o.out].producer = int(j);
  }
  for (const Op& o : ops)
    if (o.type == ROWSCALE) {
      if (o.k < 0) throw Failure{"E_BAD_ARGUMENT", "rowscale: negative mask offset"};
      rowMaskLen = std::max(rowMaskLen, size_t(o.k) + size_t(t[o.in0].dims[0]));
    }
  imagesUser = memory(plainDesc(t[0].dims), cpu(), nullptr);
  t[0].md = plainDesc(t[0].dims);
  t[0].val = imagesUser;
  for (size_t j = 0; j < ops.size(); ++j) buildForward(int(j));
  if (headOp < 0) throw Failure{"E_BAD_ARGUMENT", "the plan has no classifier (Gemm) op"};
  if (train) {
    for (int j = int(ops.size()) - 1; j >= 0; --j) buildBackward(j);
  }
  scratch = memory(memory::desc({dnnl_dim_t(std::max<size_t>(scratchBytes, 1))}, dt::u8, tag::a), cpu());
  for (auto* l : {&fwd, &bwd})
    for (auto& e : *l)
      if (e.fn == nullptr) {
        e.args[DNNL_ARG_SCRATCHPAD] = scratch;
      }
  placeBuffers();
}

// Offsets in one arena from each buffer's lifetime over the exec sequence (forward, then backward): the
// largest first, each at the lowest offset clear of every placed buffer whose lifetime overlaps its own.
void Plan::placeBuffers() {
  constexpr size_t ALIGN = 64;
  size_t n = arenaMem.size();
  std::vector<size_t> first(n, SIZE_MAX), last(n, 0), bytes(n, 0);
  auto root = [&](int i) { return arenaBase[i] >= 0 ? arenaBase[i] : i; };
  size_t step = 0;
  auto touch = [&](const memory& m) {
    if (!m) return;
    auto it = arenaIndex.find(m.get());
    if (it == arenaIndex.end()) return;
    int r = root(it->second);
    first[r] = std::min(first[r], step);
    last[r] = std::max(last[r], step);
    bytes[r] = std::max(bytes[r], (m.get_desc().get_size() + ALIGN - 1) / ALIGN * ALIGN);
  };
  for (auto* l : {&fwd, &bwd})
    for (auto& e : *l) {
      for (auto& a : e.args) touch(a.second);
      for (auto& m : e.uses) touch(m);
      ++step;
    }
  std::vector<int> order;
  for (size_t i = 0; i < n; ++i)
    if (first[i] != SIZE_MAX) order.push_back(int(i));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return bytes[a] > bytes[b]; });
  std::vector<size_t> offset(n, 0);
  std::vector<int> placed;
  arenaBytes = 0;
  arenaNaiveBytes = 0;
  // HEADSTART_NATIVE_SHARE_BUFFERS=0: one range each (a check that sharing changes no result).
  const char* share = getenv("HEADSTART_NATIVE_SHARE_BUFFERS");
  const bool shared = !(share && std::string(share) == "0");
  for (int i : order) {
    std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of placed buffers alive with i
    for (int p : placed)
      if (!shared || (first[p] <= last[i] && first[i] <= last[p])) busy.push_back({offset[p], offset[p] + bytes[p]});
    std::sort(busy.begin(), busy.end());
    size_t at = 0;
    for (auto& b : busy) {
      if (at + bytes[i] <= b.first) break;
      at = std::max(at, b.second);
    }
    offset[i] = at;
    placed.push_back(i);
    arenaBytes = std::max(arenaBytes, at + bytes[i]);
    arenaNaiveBytes += bytes[i];
  }
  std::free(arena);
  arena = static_cast<float*>(std::aligned_alloc(ALIGN, std::max(arenaBytes, ALIGN)));
  if (!arena) throw Failure{"E_INTERNAL", "could not allocate the plan's " + std::to_string(arenaBytes) + " bytes of buffers"};
  char* base = reinterpret_cast<char*>(arena);
  for (size_t i = 0; i < n; ++i) {
    int r = root(int(i));
    if (first[r] != SIZE_MAX) arenaMem[i].set_data_handle(base + offset[r]);
  }
  // Now every memory an exec takes has storage, except those bound to the caller's arrays at each step. One
  // without was made from a buffer's handle before it had one: a reshape of a buffer must be view(desc, of).
  std::unordered_map<dnnl_memory_t, bool> bound = {{imagesUser.get(true), true}, {logitsMem.get(true), true}};
  for (auto* l : {&paramMem, &gradMem})
    for (auto& m : *l)
      if (m) bound[m.get()] = true;
  for (auto* l : {&fwd, &bwd})
    for (auto& e : *l)
      for (auto& a : e.args)
        if (a.second && a.second.get_data_handle() == nullptr && !bound.count(a.second.get()))
          throw Failure{"E_INTERNAL", "native plan: argument " + std::to_string(a.first) + " of a " + STAT_NAMES[e.stat] + " step has no storage (a reshape of a plan buffer must use view())"};
}

// The default choice of convolution algorithm: Winograd for a 3x3 stride-1 convolution (oneDNN has it for
// no other; where it has none, as without AVX-512, buildForward falls back to direct) whose output maps
// are at least 14x14 and whose batch holds at least 1024 output positions; direct elsewhere. That is
// where the timing probe (auto) found it faster (ResNet18, AVX-512: 35-50% less time for forward and
// both gradients at 56x56 to 14x14 with batch 8; about even at 7x7; 2-8x slower at 4x4 and 2x2), and,
// unlike the probe, it decides the same way on every run. Winograd rounds differently from direct by
// about as much as direct on 1 thread differs from direct on 2.
bool winogradByShape(const Op& o, const memory::dims& dst) {
  if (o.k != 3 || o.s != 1 || o.groups > 1) return false;
  const memory::dim pixels = dst[2] * dst[3];
  return pixels >= 14 * 14 && dst[0] * pixels >= 1024;
}

// HEADSTART_NATIVE_CONV_ALGO=auto: runs one convolution's work in a step (forward; in a training plan also
// backward-data and backward-weights where they will run) with the direct and with the Winograd algorithm on
// scratch buffers and returns the faster (direct where oneDNN has no Winograd for the shape: 3x3 stride 1
// only). Wall time of one run after a warm-up run, on the plan's threads, the two algorithms alternating.
algo Plan::fasterConvAlgo(const Op& o, const memory::dims& src, const memory::dims& wd, const memory::dims& dst) {
  const bool needData = train && t[o.in0].req && t[o.out].req, needWeights = wantsGrad(o.w);
  const memory::dims s = {o.s, o.s}, pl = {o.pt, o.pl}, pr = {o.pb, o.pr};
  using Work = std::vector<std::pair<dnnl::primitive, std::unordered_map<int, memory>>>;
  Work work[2];  // Winograd, direct
  const algo algos[2] = {algo::convolution_winograd, algo::convolution_direct};
  for (int k = 0; k < 2; ++k) {
    const algo a = algos[k];
    auto filled = [](const memory::desc& md) {
      memory m(md, cpu());
      float* p = static_cast<float*>(m.get_data_handle());
      for (size_t i = 0, n = md.get_size() / sizeof(float); i < n; ++i) p[i] = 0.01f * float(i % 97);
      return m;
    };
    auto scratchpad = [](const memory::desc& md) { return memory(md, cpu()); };
    try {
      dnnl::convolution_forward::desc fd(train ? pk::forward_training : pk::forward_inference, a, anyDesc(src), anyDesc(wd), anyDesc(dst), s, pl, pr);
      dnnl::convolution_forward::primitive_desc fpd(fd, attr(), cpu());
      work[k].push_back({dnnl::convolution_forward(fpd),
                      {{DNNL_ARG_SRC, filled(fpd.src_desc())}, {DNNL_ARG_WEIGHTS, filled(fpd.weights_desc())}, {DNNL_ARG_DST, filled(fpd.dst_desc())},
                       {DNNL_ARG_SCRATCHPAD, scratchpad(fpd.scratchpad_desc())}}});
      if (needData) {
        auto pd = withDirectFallback(a, [&](algo b) {
          dnnl::convolution_backward_data::desc d(b, anyDesc(src), anyDesc(wd), anyDesc(dst), s, pl, pr);
          return dnnl::convolution_backward_data::primitive_desc(d, attr(), cpu(), fpd);
        });
        work[k].push_back({dnnl::convolution_backward_data(pd),
                        {{DNNL_ARG_DIFF_DST, filled(pd.diff_dst_desc())}, {DNNL_ARG_WEIGHTS, filled(pd.weights_desc())}, {DNNL_ARG_DIFF_SRC, filled(pd.diff_src_desc())},
                         {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}}});
      }
      if (needWeights) {
        auto pd = withDirectFallback(a, [&](algo b) {
          dnnl::convolution_backward_weights::desc d(b, anyDesc(src), anyDesc(wd), anyDesc(dst), s, pl, pr);
          return dnnl::convolution_backward_weights::primitive_desc(d, attr(), cpu(), fpd);
        });
        work[k].push_back({dnnl::convolution_backward_weights(pd),
                        {{DNNL_ARG_SRC, filled(pd.src_desc())}, {DNNL_ARG_DIFF_DST, filled(pd.diff_dst_desc())}, {DNNL_ARG_DIFF_WEIGHTS, filled(pd.diff_weights_desc())},
                         {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}}});
      }
    } catch (const dnnl::error&) {
      if (a == algo::convolution_direct) throw;
      return algo::convolution_direct;  // no Winograd for this shape: nothing to time
    }
  }
  dnnl::stream stream(cpu());
  double ms[2] = {INFINITY, INFINITY};
  for (int run = 0; run < 2; ++run)
    for (int k = 0; k < 2; ++k) {
      auto t0 = std::chrono::steady_clock::now();
      for (auto& w : work[k]) {
        w.first.execute(stream, w.second);
        stream.wait();
      }
      double took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (run > 0) ms[k] = std::min(ms[k], took);  // the first run warms up
    }
  return ms[0] < ms[1] ? algo::convolution_winograd : algo::convolution_direct;
}

void Plan::buildForward(int j) {
  const Op& o = ops[j];
  Tensor& out = t[o.out];
  auto prop = train ? pk::forward_training : pk::forward_inference;
  switch (o.type) {
    case CONV: {
      Tensor& in = t[o.in0];
      memory::dims wd = convWeightDims(o.groups, out.dims[1], in.dims[1], o.k);
      // HEADSTART_NATIVE_CONV_ALGO=winograd|auto asks oneDNN for Winograd where it has it (3x3 stride 1), else direct.
      const bool bias = param(o.p1);
      auto makePd = [&](algo a) {
        if (bias) {
          dnnl::convolution_forward::desc d(prop, a, anyDesc(in.dims), anyDesc(wd), plainDesc({out.dims[1]}), anyDesc(out.dims), {o.s, o.s}, {o.pt, o.pl},
                                            {o.pb, o.pr});
          return dnnl::convolution_forward::primitive_desc(d, attr(), cpu());
        }
        dnnl::convolution_forward::desc d(prop, a, anyDesc(in.dims), anyDesc(wd), anyDesc(out.dims), {o.s, o.s}, {o.pt, o.pl}, {o.pb, o.pr});
        return dnnl::convolution_forward::primitive_desc(d, attr(), cpu());
      };
      dnnl::convolution_forward::primitive_desc pd;
      convAlgo[j] = algo::convolution_direct;
      const algo want = probeConvAlgo ? fasterConvAlgo(o, in.dims, wd, out.dims) : shapeConvAlgo && winogradByShape(o, out.dims) ? algo::convolution_winograd : preferredConvAlgo;
      if (want != algo::convolution_direct) {
        try {
          pd = makePd(want);
          convAlgo[j] = want;
        } catch (const dnnl::error&) {
        }
      }
      if (convAlgo[j] == algo::convolution_direct) pd = makePd(algo::convolution_direct);
      noteScratch(pd);
      memory x = valueAs(fwd, o.in0, pd.src_desc());
      if (!paramMem[o.w]) paramMem[o.w] = memory(convWeightPlain(wd), cpu(), nullptr);
      memory w = paramMem[o.w];
      if (pd.weights_desc() != w.get_desc()) {
        memory wb = buf(pd.weights_desc());
        reorder(fwd, S_REORDER_WEIGHTS, w, wb);
        w = wb;
      }
      out.md = pd.dst_desc();
      out.val = buf(out.md);
      add(fwd, S_CONV_FWD, dnnl::convolution_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, out.val}});
      if (bias) {
        if (!paramMem[o.p1]) paramMem[o.p1] = memory(plainDesc({out.dims[1]}), cpu(), nullptr);
        fwd.back().args[DNNL_ARG_BIAS] = paramMem[o.p1];
      }
      break;
    }
    case BN: {
      Tensor& in = t[o.in0];
      bool batchStats = train && (o.flags & F_TRAINING);
      nf flags = nf::use_scale | nf::use_shift;
      if (!batchStats) flags = flags | nf::use_global_stats;
      if (o.flags & F_RELU) flags = flags | nf::fuse_norm_relu;
      // Batch statistics summed in double by us (bn-stats.h), then normalised by oneDNN with them.
      const bool ownStats = batchStats && bnStatsDoubleWanted() && bnStatsLayoutSupported(in.md);
      if (ownStats) flags = flags | nf::use_global_stats;
      dnnl::batch_normalization_forward::desc d(prop, in.md, float(o.eps), flags);
      dnnl::batch_normalization_forward::primitive_desc pd(d, attr(), cpu());
      noteScratch(pd);
      out.md = pd.dst_desc();
      out.val = buf(out.md);
      memory::dims cd = {in.dims[1]};
      for (int p : {o.w, o.p1, o.p2, o.p3})
        if (!paramMem[p]) paramMem[p] = memory(plainDesc(cd), cpu(), nullptr);
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, in.val}, {DNNL_ARG_DST, out.val}, {DNNL_ARG_SCALE, paramMem[o.w]}, {DNNL_ARG_SHIFT, paramMem[o.p1]}};
      memory mean, var;
      if (batchStats) {
        mean = buf(plainDesc(cd));
        var = buf(plainDesc(cd));
      } else {
        mean = paramMem[o.p2];
        var = paramMem[o.p3];
      }
      args[DNNL_ARG_MEAN] = mean;
      args[DNNL_ARG_VARIANCE] = var;
      bnStats[j] = {mean, var};
      if (train && (o.flags & F_RELU)) {
        args[DNNL_ARG_WORKSPACE] = buf(pd.workspace_desc());
      }
      if (ownStats) {
        memory src = in.val;
        // (timed with the running statistics: an S_BN_FWD entry must be a primitive, the backward looks its workspace up there)
        addFn(fwd, S_RUNNING, [src, mean, var]() { bnStatsDouble(src, static_cast<float*>(mean.get_data_handle()), static_cast<float*>(var.get_data_handle())); }, {src, mean, var});
      }
      add(fwd, S_BN_FWD, dnnl::batch_normalization_forward(pd), args);
      if (batchStats) {
        // running = (1 - m) running + m batch; the variance with the unbiased n/(n-1) correction.
        double count = double(in.dims[0]) * in.dims[2] * in.dims[3];
        float m = float(o.momentum), keep = float(1 - o.momentum);
        float unbias = float(count / std::max(count - 1, 1.0));
        int pm = o.p2, pv = o.p3;
        size_t c = size_t(in.dims[1]);
        addFn(fwd, S_RUNNING, [this, mean, var, pm, pv, c, m, keep, unbias]() {
          const float* bm = static_cast<const float*>(mean.get_data_handle());
          const float* bv = static_cast<const float*>(var.get_data_handle());
          float* rm = paramPtr[pm];
          float* rv = paramPtr[pv];
          for (size_t i = 0; i < c; ++i) {
            rm[i] = rm[i] * keep + bm[i] * m;
            rv[i] = rv[i] * keep + (bv[i] * unbias) * m;
          }
        }, {mean, var});
      }
      break;
    }
    case RELU: {
      Tensor& in = t[o.in0];
      dnnl::eltwise_forward::desc d(prop, algo::eltwise_relu_use_dst_for_bwd, in.md, 0.f, 0.f);
      dnnl::eltwise_forward::primitive_desc pd(d, attr(), cpu());
      noteScratch(pd);
      out.md = pd.dst_desc();
      out.val = buf(out.md);
      add(fwd, S_ELTWISE_FWD, dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, in.val}, {DNNL_ARG_DST, out.val}});
      break;
    }
    case CLIP: {
      // y = min(max(x, lo), hi) (ReLU6); backward from the output: the gradient passes where lo < y < hi,
      // the same elements as lo < x < hi, so the input can die right after this op.
      Tensor& in = t[o.in0];
      dnnl::eltwise_forward::desc d(prop, algo::eltwise_clip_v2_use_dst_for_bwd, in.md, float(o.eps), float(o.momentum));
      dnnl::eltwise_forward::primitive_desc pd(d, attr(), cpu());
      noteScratch(pd);
      out.md = pd.dst_desc();
      out.val = buf(out.md);
      add(fwd, S_ELTWISE_FWD, dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, in.val}, {DNNL_ARG_DST, out.val}});
      break;
    }
    case MAXPOOL:
    case GAP: {
      Tensor& in = t[o.in0];
      bool gap = o.type == GAP;
      memory::dims k = gap ? memory::dims{in.dims[2], in.dims[3]} : memory::dims{o.k, o.k};
      memory::dims s = gap ? memory::dims{1, 1} : memory::dims{o.s, o.s};
      memory::dims pl = gap ? memory::dims{0, 0} : memory::dims{o.pt, o.pl};
      memory::dims pr = gap ? memory::dims{0, 0} : memory::dims{o.pb, o.pr};
      dnnl::pooling_forward::desc d(prop, gap ? algo::pooling_avg_exclude_padding : algo::pooling_max, in.md, anyDesc(out.dims), s, k, pl, pr);
      dnnl::pooling_forward::primitive_desc pd(d, attr(), cpu());
      noteScratch(pd);
      memory dst = buf(pd.dst_desc());
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, in.val}, {DNNL_ARG_DST, dst}};
      if (!gap && train) args[DNNL_ARG_WORKSPACE] = buf(pd.workspace_desc());
      add(fwd, gap ? S_HEAD_LOSS : S_POOL_FWD, dnnl::pooling_forward(pd), args);
      if (gap) {
        // The pooled features, plain [N, C, 1, 1] for the classifier.
        out.md = plainDesc(out.dims);
        out.val = buf(out.md);
        reorder(fwd, S_HEAD_LOSS, dst, out.val);
      } else {
        out.md = dst.get_desc();
        out.val = dst;
      }
      break;
    }
    case ADD: {
      Tensor& a = t[o.in0];
      memory b = valueAs(fwd, o.in1, a.md);
      dnnl::binary::desc d(algo::binary_add, a.md, a.md, a.md);
      dnnl::primitive_attr at = attr();
      if (o.flags & F_RELU) {
        dnnl::post_ops po;
        po.append_eltwise(1.f, algo::eltwise_relu, 0.f, 0.f);
        at.set_post_ops(po);
      }
      dnnl::binary::primitive_desc pd(d, at, cpu());
      noteScratch(pd);
      out.md = pd.dst_desc();
      out.val = buf(out.md);
      add(fwd, S_ELTWISE_FWD, dnnl::binary(pd), {{DNNL_ARG_SRC_0, a.val}, {DNNL_ARG_SRC_1, b}, {DNNL_ARG_DST, out.val}});
      break;
    }
    case GEMM: {
      Tensor& in = t[o.in0];
      if (headOp >= 0) throw Failure{"E_BAD_ARGUMENT", "the plan has more than one classifier (Gemm) op"};
      if (o.out != int(t.size()) - 1 || j != int(ops.size()) - 1) throw Failure{"E_BAD_ARGUMENT", "the classifier (Gemm) must be the plan's last op"};
      if (in.md != plainDesc(in.dims)) throw Failure{"E_BAD_ARGUMENT", "the classifier's input must come from GlobalAveragePool"};
      headOp = j;
      N = int(in.dims[0]);
      F = int(numel(in.dims) / in.dims[0]);
      K = int(out.dims[1]);
      // An inner product on plain [N, F] x [K, F]^T (+ bias), writing the caller's logits.
      featPlain = view(memory::desc({N, F}, dt::f32, tag::nc), in.val);
      if (train && (o.flags & F_DROPOUT)) {
        // Inverted dropout on the features: the classifier reads features * mask (the mask, 0 or
        // 1/(1-p), drawn by the caller); backward multiplies the feature gradient by the same mask.
        dropout = true;
        featDropped = buf(featPlain.get_desc());
        memory srcMem = featPlain, dstMem = featDropped;
        size_t count = size_t(N) * F;
        addFn(fwd, S_HEAD_LOSS, [this, srcMem, dstMem, count]() {
          const float* src = static_cast<const float*>(srcMem.get_data_handle());
          float* dst = static_cast<float*>(dstMem.get_data_handle());
          for (size_t i = 0; i < count; ++i) dst[i] = src[i] * mask[i];
        }, {srcMem, dstMem});
        featPlain = featDropped;
      }
      out.md = plainDesc(out.dims);
      logitsMem = memory(memory::desc({N, K}, dt::f32, tag::nc), cpu(), nullptr);
      memory::desc wd({K, F}, dt::f32, tag::oi), bd({K}, dt::f32, tag::a);
      if (!paramMem[o.w]) paramMem[o.w] = memory(wd, cpu(), nullptr);
      bool bias = param(o.p1);
      if (bias && !paramMem[o.p1]) paramMem[o.p1] = memory(bd, cpu(), nullptr);
      auto d = bias ? dnnl::inner_product_forward::desc(prop, featPlain.get_desc(), wd, bd, logitsMem.get_desc())
                    : dnnl::inner_product_forward::desc(prop, featPlain.get_desc(), wd, logitsMem.get_desc());
      dnnl::inner_product_forward::primitive_desc pd(d, attr(), cpu());
      noteScratch(pd);
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, featPlain}, {DNNL_ARG_WEIGHTS, paramMem[o.w]}, {DNNL_ARG_DST, logitsMem}};
      if (bias) args[DNNL_ARG_BIAS] = paramMem[o.p1];
      add(fwd, S_HEAD_LOSS, dnnl::inner_product_forward(pd), args);
      dlogits.assign(size_t(N) * K, 0.f);
      if (!train) break;
      addFn(fwd, S_HEAD_LOSS, [this]() {
        // loss = -sum(C * log_softmax(logits)); dlogits = softmax * rowsum(C) - C.
        double total = 0;
        for (int n = 0; n < N; ++n) {
          const float* z = logits + size_t(n) * K;
          const float* c = coeffs + size_t(n) * K;
          double mx = z[0];
          for (int k = 1; k < K; ++k) mx = std::max(mx, double(z[k]));
          double se = 0, rc = 0;
          for (int k = 0; k < K; ++k) se += std::exp(double(z[k]) - mx);
          double lse = mx + std::log(se);
          for (int k = 0; k < K; ++k) {
            total -= double(c[k]) * (double(z[k]) - lse);
            rc += c[k];
          }
          for (int k = 0; k < K; ++k) dlogits[size_t(n) * K + k] = float(std::exp(double(z[k]) - lse) * rc - c[k]);
        }
        *loss = total;
      }, {});
      break;
    }
    default:
      if (buildForwardExtra(j)) break;
      throw Failure{"E_BAD_ARGUMENT", "unknown op type " + std::to_string(o.type)};
  }
}

void Plan::buildBackward(int j) {
  const Op& o = ops[j];
  Tensor& out = t[o.out];
  if (!out.req) return;
  if (o.type != GEMM && out.state == Tensor::NONE) return;  // no gradient reaches it
  if (buildBackwardExtra(j)) return;
  switch (o.type) {
    case GEMM: {
      Tensor& in = t[o.in0];
      bool bias = param(o.p1);
      memory::desc wd({K, F}, dt::f32, tag::oi), bd({K}, dt::f32, tag::a), xd = featPlain.get_desc();
      memory dl(memory::desc({N, K}, dt::f32, tag::nc), cpu(), dlogits.data());
      auto fd = bias ? dnnl::inner_product_forward::desc(pk::forward_training, xd, wd, bd, dl.get_desc())
                     : dnnl::inner_product_forward::desc(pk::forward_training, xd, wd, dl.get_desc());
      dnnl::inner_product_forward::primitive_desc fpd(fd, attr(), cpu());
      if (wantsGrad(o.w) || wantsGrad(o.p1)) {
        for (int p : {o.w, o.p1})
          if (wantsGrad(p) && !gradMem[p]) gradMem[p] = memory(p == o.w ? wd : bd, cpu(), nullptr);
        memory dw = wantsGrad(o.w) ? gradMem[o.w] : buf(wd);
        auto d = bias ? dnnl::inner_product_backward_weights::desc(xd, wd, bd, dl.get_desc()) : dnnl::inner_product_backward_weights::desc(xd, wd, dl.get_desc());
        dnnl::inner_product_backward_weights::primitive_desc pd(d, attr(), cpu(), fpd);
        noteScratch(pd);
        std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, featPlain}, {DNNL_ARG_DIFF_DST, dl}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
        if (bias) args[DNNL_ARG_DIFF_BIAS] = wantsGrad(o.p1) ? gradMem[o.p1] : buf(bd);
        add(bwd, S_HEAD_LOSS, dnnl::inner_product_backward_weights(pd), args);
      }
      if (in.req) {
        dfeatPlain = buf(in.md);
        memory dx = dropout ? buf(xd) : view(xd, dfeatPlain);
        dnnl::inner_product_backward_data::desc d(xd, wd, dl.get_desc());
        dnnl::inner_product_backward_data::primitive_desc pd(d, attr(), cpu(), fpd);
        noteScratch(pd);
        add(bwd, S_HEAD_LOSS, dnnl::inner_product_backward_data(pd), {{DNNL_ARG_DIFF_DST, dl}, {DNNL_ARG_WEIGHTS, paramMem[o.w]}, {DNNL_ARG_DIFF_SRC, dx}});
        if (dropout) {
          memory srcMem = dx, dstMem = dfeatPlain;
          size_t count = size_t(N) * F;
          addFn(bwd, S_HEAD_LOSS, [this, srcMem, dstMem, count]() {
            const float* src = static_cast<const float*>(srcMem.get_data_handle());
            float* dst = static_cast<float*>(dstMem.get_data_handle());
            for (size_t i = 0; i < count; ++i) dst[i] = src[i] * mask[i];
          }, {srcMem, dstMem});
        }
        contributeAlias(o.in0, dfeatPlain);
      }
      break;
    }
    case GAP: {
      Tensor& in = t[o.in0];
      if (!in.req) break;
      memory::dims k = {in.dims[2], in.dims[3]};
      dnnl::pooling_forward::desc fd(pk::forward_training, algo::pooling_avg_exclude_padding, in.md, anyDesc(out.dims), {1, 1}, k, {0, 0}, {0, 0});
      dnnl::pooling_forward::primitive_desc fpd(fd, attr(), cpu());
      dnnl::pooling_backward::desc d(algo::pooling_avg_exclude_padding, in.md, fpd.dst_desc(), {1, 1}, k, {0, 0}, {0, 0});
      dnnl::pooling_backward::primitive_desc pd(d, attr(), cpu(), fpd);
      noteScratch(pd);
      memory dy = buf(pd.diff_dst_desc());
      reorder(bwd, S_HEAD_LOSS, out.diff(), dy);
      memory target = contributionTarget(o.in0);
      add(bwd, S_HEAD_LOSS, dnnl::pooling_backward(pd), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, target}});
      finishContribution(o.in0, target);
      break;
    }
    case ADD: {
      memory d = out.diff();
      if (o.flags & F_RELU) {
        dnnl::eltwise_forward::desc fd(pk::forward_training, algo::eltwise_relu_use_dst_for_bwd, out.md, 0.f, 0.f);
        dnnl::eltwise_forward::primitive_desc fpd(fd, attr(), cpu());
        dnnl::eltwise_backward::desc bd(algo::eltwise_relu_use_dst_for_bwd, out.md, out.md, 0.f, 0.f);
        dnnl::eltwise_backward::primitive_desc pd(bd, attr(), cpu(), fpd);
        noteScratch(pd);
        memory pre = buf(out.md);
        add(bwd, S_ELTWISE_BWD, dnnl::eltwise_backward(pd), {{DNNL_ARG_DIFF_DST, d}, {DNNL_ARG_DST, out.val}, {DNNL_ARG_DIFF_SRC, pre}});
        d = pre;
      }
      // Both inputs receive the same gradient: passed on without a copy.
      if (t[o.in0].req) contributeAlias(o.in0, d);
      if (t[o.in1].req) contributeAlias(o.in1, d);
      break;
    }
    case RELU: {
      if (!t[o.in0].req) break;
      dnnl::eltwise_forward::desc fd(pk::forward_training, algo::eltwise_relu_use_dst_for_bwd, out.md, 0.f, 0.f);
      dnnl::eltwise_forward::primitive_desc fpd(fd, attr(), cpu());
      dnnl::eltwise_backward::desc bd(algo::eltwise_relu_use_dst_for_bwd, out.md, out.md, 0.f, 0.f);
      dnnl::eltwise_backward::primitive_desc pd(bd, attr(), cpu(), fpd);
      noteScratch(pd);
      memory target = contributionTarget(o.in0);
      if (target.get_desc() != out.md) throw Failure{"E_INTERNAL", "relu: layouts differ"};
      add(bwd, S_ELTWISE_BWD, dnnl::eltwise_backward(pd), {{DNNL_ARG_DIFF_DST, out.diff()}, {DNNL_ARG_DST, out.val}, {DNNL_ARG_DIFF_SRC, target}});
      finishContribution(o.in0, target);
      break;
    }
    case CLIP: {
      Tensor& in = t[o.in0];
      if (!in.req) break;
      dnnl::eltwise_forward::desc fd(pk::forward_training, algo::eltwise_clip_v2_use_dst_for_bwd, in.md, float(o.eps), float(o.momentum));
      dnnl::eltwise_forward::primitive_desc fpd(fd, attr(), cpu());
      dnnl::eltwise_backward::desc bd(algo::eltwise_clip_v2_use_dst_for_bwd, out.md, out.md, float(o.eps), float(o.momentum));
      dnnl::eltwise_backward::primitive_desc pd(bd, attr(), cpu(), fpd);
      noteScratch(pd);
      memory target = contributionTarget(o.in0);
      if (target.get_desc() != in.md || out.md != in.md) throw Failure{"E_INTERNAL", "clip: layouts differ"};
      add(bwd, S_ELTWISE_BWD, dnnl::eltwise_backward(pd), {{DNNL_ARG_DIFF_DST, out.diff()}, {DNNL_ARG_DST, out.val}, {DNNL_ARG_DIFF_SRC, target}});
      finishContribution(o.in0, target);
      break;
    }
    case MAXPOOL: {
      Tensor& in = t[o.in0];
      if (!in.req) break;
      // The forward primitive's own pd, rebuilt (same descs) as the hint.
      dnnl::pooling_forward::desc fd(pk::forward_training, algo::pooling_max, in.md, anyDesc(out.dims), {o.s, o.s}, {o.k, o.k}, {o.pt, o.pl},
                                     {o.pb, o.pr});
      dnnl::pooling_forward::primitive_desc fpd(fd, attr(), cpu());
      dnnl::pooling_backward::desc d(algo::pooling_max, in.md, out.md, {o.s, o.s}, {o.k, o.k}, {o.pt, o.pl}, {o.pb, o.pr});
      dnnl::pooling_backward::primitive_desc pd(d, attr(), cpu(), fpd);
      noteScratch(pd);
      memory ws;
      for (auto& e : fwd)
        if (e.stat == S_POOL_FWD && e.args.count(DNNL_ARG_DST) && same(e.args[DNNL_ARG_DST], out.val)) ws = e.args[DNNL_ARG_WORKSPACE];
      memory target = contributionTarget(o.in0);
      add(bwd, S_POOL_BWD, dnnl::pooling_backward(pd), {{DNNL_ARG_DIFF_DST, out.diff()}, {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_DIFF_SRC, target}});
      finishContribution(o.in0, target);
      break;
    }
    case BN: {
      Tensor& in = t[o.in0];
      bool batchStats = o.flags & F_TRAINING;
      nf flags = nf::use_scale | nf::use_shift;
      if (!batchStats) flags = flags | nf::use_global_stats;
      if (o.flags & F_RELU) flags = flags | nf::fuse_norm_relu;
      dnnl::batch_normalization_forward::desc fd(pk::forward_training, in.md, float(o.eps), flags);
      dnnl::batch_normalization_forward::primitive_desc fpd(fd, attr(), cpu());
      dnnl::batch_normalization_backward::desc d(pk::backward, out.md, in.md, float(o.eps), flags);
      dnnl::batch_normalization_backward::primitive_desc pd(d, attr(), cpu(), fpd);
      noteScratch(pd);
      memory::dims cd = {in.dims[1]};
      auto gradOrScratch = [&](int p) {
        if (wantsGrad(p)) {
          if (!gradMem[p]) gradMem[p] = memory(plainDesc(cd), cpu(), nullptr);
          return gradMem[p];
        }
        return buf(plainDesc(cd));
      };
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, in.val},
                                              {DNNL_ARG_MEAN, bnStats[j].first},
                                              {DNNL_ARG_VARIANCE, bnStats[j].second},
                                              {DNNL_ARG_DIFF_DST, out.diff()},
                                              {DNNL_ARG_SCALE, paramMem[o.w]},
                                              {DNNL_ARG_SHIFT, paramMem[o.p1]},
                                              {DNNL_ARG_DIFF_SCALE, gradOrScratch(o.w)},
                                              {DNNL_ARG_DIFF_SHIFT, gradOrScratch(o.p1)}};
      if (o.flags & F_RELU) {
        for (auto& e : fwd)
          if (e.stat == S_BN_FWD && same(e.args[DNNL_ARG_DST], out.val)) args[DNNL_ARG_WORKSPACE] = e.args[DNNL_ARG_WORKSPACE];
      }
      memory target = in.req ? contributionTarget(o.in0) : buf(in.md);
      args[DNNL_ARG_DIFF_SRC] = target;
      add(bwd, S_BN_BWD, dnnl::batch_normalization_backward(pd), args);
      if (in.req) finishContribution(o.in0, target);
      break;
    }
    case CONV: {
      Tensor& in = t[o.in0];
      memory::dims wd = convWeightDims(o.groups, out.dims[1], in.dims[1], o.k);
      const algo ca = convAlgo[j];
      dnnl::convolution_forward::desc fd(pk::forward_training, ca, anyDesc(in.dims), anyDesc(wd), anyDesc(out.dims), {o.s, o.s}, {o.pt, o.pl}, {o.pb, o.pr});
      dnnl::convolution_forward::primitive_desc fpd(fd, attr(), cpu());
      // The blocked weight the forward pass already made this step, if the layouts agree.
      memory wFwd;
      for (auto& e : fwd)
        if (e.stat == S_CONV_FWD && same(e.args[DNNL_ARG_DST], out.val)) wFwd = e.args[DNNL_ARG_WEIGHTS];
      if (in.req) {
        auto makePd = [&](algo a) {
          dnnl::convolution_backward_data::desc d(a, anyDesc(in.dims), anyDesc(wd), anyDesc(out.dims), {o.s, o.s}, {o.pt, o.pl}, {o.pb, o.pr});
          return dnnl::convolution_backward_data::primitive_desc(d, attr(), cpu(), fpd);
        };
        auto pd = withDirectFallback(ca, makePd);
        noteScratch(pd);
        memory w = wFwd;
        if (pd.weights_desc() != w.get_desc()) {
          w = buf(pd.weights_desc());
          reorder(bwd, S_REORDER_WEIGHTS, paramMem[o.w], w);
        }
        memory dy = out.diff();
        if (pd.diff_dst_desc() != out.md) {
          dy = buf(pd.diff_dst_desc());
          reorder(bwd, S_REORDER_ACT, out.diff(), dy);
        }
        if (pd.diff_src_desc() == in.md) {
          memory target = contributionTarget(o.in0);
          add(bwd, S_CONV_BWD_DATA, dnnl::convolution_backward_data(pd), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, target}});
          finishContribution(o.in0, target);
        } else {
          memory dx = buf(pd.diff_src_desc());
          add(bwd, S_CONV_BWD_DATA, dnnl::convolution_backward_data(pd), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dx}});
          contributeFrom(bwd, o.in0, dx);
        }
      }
      const bool bias = param(o.p1);
      if (wantsGrad(o.w) || wantsGrad(o.p1)) {
        auto makePd = [&](algo a) {
          if (bias) {
            dnnl::convolution_backward_weights::desc d(a, anyDesc(in.dims), anyDesc(wd), plainDesc({out.dims[1]}), anyDesc(out.dims), {o.s, o.s}, {o.pt, o.pl},
                                                       {o.pb, o.pr});
            return dnnl::convolution_backward_weights::primitive_desc(d, attr(), cpu(), fpd);
          }
          dnnl::convolution_backward_weights::desc d(a, anyDesc(in.dims), anyDesc(wd), anyDesc(out.dims), {o.s, o.s}, {o.pt, o.pl}, {o.pb, o.pr});
          return dnnl::convolution_backward_weights::primitive_desc(d, attr(), cpu(), fpd);
        };
        auto pd = withDirectFallback(ca, makePd);
        // oneDNN 2.6 has no jit_dw backward-weights for 5x5 (EfficientNet) or tiny maps: its gemm fallback
        // reorders to plain layouts and runs per-channel GEMMs; a loop over the blocked layouts replaces it.
        if (depthwiseWeightsGrad(j, std::string(pd.impl_info_str()))) break;
        noteScratch(pd);
        // Built while walking backwards: bwd-weights runs after bwd-data here, reading the same dy.
        memory x = in.val;
        if (pd.src_desc() != in.md) {
          x = buf(pd.src_desc());
          reorder(bwd, S_REORDER_ACT, in.val, x);
        }
        memory dy = out.diff();
        if (pd.diff_dst_desc() != out.md) {
          dy = buf(pd.diff_dst_desc());
          reorder(bwd, S_REORDER_ACT, out.diff(), dy);
        }
        memory wGrad;  // the caller's gradient array, or (weight frozen, bias trained) a scratch buffer
        if (wantsGrad(o.w)) {
          if (!gradMem[o.w]) gradMem[o.w] = memory(convWeightPlain(wd), cpu(), nullptr);
          wGrad = gradMem[o.w];
        } else {
          wGrad = memory(pd.diff_weights_desc(), cpu());
        }
        memory dw = wGrad;
        bool direct = pd.diff_weights_desc() == dw.get_desc();
        if (!direct) dw = buf(pd.diff_weights_desc());
        add(bwd, S_CONV_BWD_WEIGHTS, dnnl::convolution_backward_weights(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
        if (bias) {
          if (wantsGrad(o.p1) && !gradMem[o.p1]) gradMem[o.p1] = memory(plainDesc({out.dims[1]}), cpu(), nullptr);
          bwd.back().args[DNNL_ARG_DIFF_BIAS] = wantsGrad(o.p1) ? gradMem[o.p1] : memory(plainDesc({out.dims[1]}), cpu());
        }
        if (!direct) reorder(bwd, S_REORDER_WEIGHTS, dw, wGrad);
      }
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The ops of EfficientNet-B0 and MobileNetV3 (helper 10o): SiLU, sigmoid, hard-swish and a linear
// map as oneDNN eltwise primitives (HardSigmoid is compiled to LINEAR + CLIP), the squeeze-excitation
// product x * s with s [N, C, 1, 1] as a loop over the activation's blocked layout (its backward:
// dx = dy * s, ds = sum over H, W of dy * x, in double), and a linear layer inside the network (FC,
// MobileNetV3's classifier.0) as an inner product on plain [N, F].

algo eltAlgo(int kind) {
  switch (kind) {
    case E_SIGMOID:
      return algo::eltwise_logistic_use_dst_for_bwd;
    case E_SWISH:
      return algo::eltwise_swish;
    case E_HARDSWISH:
      return algo::eltwise_hardswish;
    case E_LINEAR:
      return algo::eltwise_linear;
  }
  throw Failure{"E_BAD_ARGUMENT", "unknown eltwise kind " + std::to_string(kind)};
}

// A 4-D layout with at most one inner block, on the channels: element (n, c, h, w) lives at
// n*s[0] + (c/B)*s[1] + h*s[2] + w*s[3] + c%B (nchw: B = 1; nChw16c / nChw8c: B = 16 / 8).
struct ChanLayout {
  memory::dim s[4] = {0, 0, 0, 0};
  memory::dim B = 1, Cp = 0;
};

bool chanLayout(const memory::desc& md, ChanLayout& L) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.ndims != 4 || d.offset0 != 0) return false;
  const auto& b = d.format_desc.blocking;
  if (b.inner_nblks > 1 || (b.inner_nblks == 1 && (b.inner_idxs[0] != 1 || b.inner_blks[0] > 64))) return false;
  for (int i = 0; i < 4; ++i) L.s[i] = b.strides[i];
  L.B = b.inner_nblks ? b.inner_blks[0] : 1;
  L.Cp = d.padded_dims[1];
  return d.padded_dims[0] == d.dims[0] && d.padded_dims[2] == d.dims[2] && d.padded_dims[3] == d.dims[3] && L.Cp % L.B == 0;
}

// y = x * g[n, c] (g plain [N, C]); padded channels get 0.
void scaleChannels(const float* x, const float* g, float* y, const ChanLayout& L, const memory::dims& d) {
  const memory::dim N = d[0], C = d[1], H = d[2], W = d[3], B = L.B, nb = L.Cp / L.B;
#pragma omp parallel for collapse(2) schedule(static)
  for (memory::dim n = 0; n < N; ++n)
    for (memory::dim cb = 0; cb < nb; ++cb) {
      float gl[64];
      for (memory::dim i = 0; i < B; ++i) gl[i] = cb * B + i < C ? g[n * C + cb * B + i] : 0.f;
      const memory::dim base = n * L.s[0] + cb * L.s[1];
      for (memory::dim h = 0; h < H; ++h)
        for (memory::dim w = 0; w < W; ++w) {
          const memory::dim off = base + h * L.s[2] + w * L.s[3];
          for (memory::dim i = 0; i < B; ++i) y[off + i] = x[off + i] * gl[i];
        }
    }
}

// dg[n, c] = sum over h, w of dy * x (dg plain [N, C]).
void channelDots(const float* dy, const float* x, float* dg, const ChanLayout& L, const memory::dims& d) {
  const memory::dim N = d[0], C = d[1], H = d[2], W = d[3], B = L.B, nb = L.Cp / L.B;
#pragma omp parallel for collapse(2) schedule(static)
  for (memory::dim n = 0; n < N; ++n)
    for (memory::dim cb = 0; cb < nb; ++cb) {
      double acc[64] = {0};
      const memory::dim base = n * L.s[0] + cb * L.s[1];
      for (memory::dim h = 0; h < H; ++h)
        for (memory::dim w = 0; w < W; ++w) {
          const memory::dim off = base + h * L.s[2] + w * L.s[3];
          for (memory::dim i = 0; i < B; ++i) acc[i] += double(dy[off + i]) * double(x[off + i]);
        }
      for (memory::dim i = 0; i < B; ++i)
        if (cb * B + i < C) dg[n * C + cb * B + i] = float(acc[i]);
    }
}

float* dataOf(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

// y[n, ...] = x[n, ...] * m[n] over a layout with the batch outermost (`per` floats per sample, padding included).
void scaleRows(const float* x, const float* m, float* y, memory::dim N, memory::dim per) {
  constexpr memory::dim CHUNK = 4096;
  const memory::dim chunks = (per + CHUNK - 1) / CHUNK;
#pragma omp parallel for collapse(2) schedule(static)
  for (memory::dim n = 0; n < N; ++n)
    for (memory::dim c = 0; c < chunks; ++c) {
      const float f = m[n];
      const memory::dim end = std::min(per, (c + 1) * CHUNK);
      for (memory::dim i = n * per + c * CHUNK; i < n * per + end; ++i) y[i] = x[i] * f;
    }
}

// Floats per sample of a layout whose batch dimension is outermost and dense, or 0 for any other.
memory::dim rowFloats(const memory::desc& md, memory::dim N) {
  ChanLayout L;
  if (!chanLayout(md, L) || N < 1 || md.get_size() != size_t(N) * size_t(L.s[0]) * sizeof(float)) return 0;
  return L.s[0];
}

bool Plan::buildForwardExtra(int j) {
  const Op& o = ops[j];
  Tensor& out = t[o.out];
  auto prop = train ? pk::forward_training : pk::forward_inference;
  switch (o.type) {
    case ELTWISE: {
      Tensor& in = t[o.in0];
      dnnl::eltwise_forward::desc d(prop, eltAlgo(o.k), in.md, float(o.eps), float(o.momentum));
      dnnl::eltwise_forward::primitive_desc pd(d, attr(), cpu());
      noteScratch(pd);
      out.md = pd.dst_desc();
      out.val = buf(out.md);
      add(fwd, S_ELTWISE_FWD, dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, in.val}, {DNNL_ARG_DST, out.val}});
      return true;
    }
    case MUL: {
      Tensor& x = t[o.in0];
      Tensor& s = t[o.in1];
      if (s.dims != memory::dims{x.dims[0], x.dims[1], 1, 1}) throw Failure{"E_BAD_ARGUMENT", "mul: the second input must be [N, C, 1, 1] (squeeze-excitation)"};
      ChanLayout L;
      if (!chanLayout(x.md, L)) throw Failure{"E_INTERNAL", "mul: the activation's layout has more than one inner block"};
      memory g = valueAs(fwd, o.in1, plainDesc(s.dims));
      out.md = x.md;
      out.val = buf(out.md);
      memory xv = x.val, yv = out.val;
      memory::dims dims = x.dims;
      addFn(fwd, S_ELTWISE_FWD, [xv, g, yv, L, dims]() { scaleChannels(dataOf(xv), dataOf(g), dataOf(yv), L, dims); }, {xv, g, yv});
      opInput[j] = g;
      return true;
    }
    case ROWSCALE: {
      Tensor& x = t[o.in0];
      const memory::dim n = x.dims[0], per = rowFloats(x.md, n);
      if (per == 0) throw Failure{"E_INTERNAL", "rowscale: the activation's layout does not keep each sample contiguous"};
      out.md = x.md;
      out.val = buf(out.md);
      memory xv = x.val, yv = out.val;
      const size_t off = size_t(o.k);
      addFn(fwd, S_ELTWISE_FWD, [this, xv, yv, n, per, off]() { scaleRows(dataOf(xv), rowMask + off, dataOf(yv), n, per); }, {xv, yv});
      return true;
    }
    case FC: {
      Tensor& in = t[o.in0];
      const memory::dim n = in.dims[0], f = in.dims[1] * in.dims[2] * in.dims[3], k = out.dims[1];
      memory x = valueAs(fwd, o.in0, plainDesc(in.dims));
      out.md = plainDesc(out.dims);
      out.val = buf(out.md);
      memory::desc xd({n, f}, dt::f32, tag::nc), yd({n, k}, dt::f32, tag::nc), wd({k, f}, dt::f32, tag::oi), bd({k}, dt::f32, tag::a);
      if (!paramMem[o.w]) paramMem[o.w] = memory(wd, cpu(), nullptr);
      const bool bias = param(o.p1);
      if (bias && !paramMem[o.p1]) paramMem[o.p1] = memory(bd, cpu(), nullptr);
      auto d = bias ? dnnl::inner_product_forward::desc(prop, xd, wd, bd, yd) : dnnl::inner_product_forward::desc(prop, xd, wd, yd);
      dnnl::inner_product_forward::primitive_desc pd(d, attr(), cpu());
      noteScratch(pd);
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, view(xd, x)}, {DNNL_ARG_WEIGHTS, paramMem[o.w]}, {DNNL_ARG_DST, view(yd, out.val)}};
      if (bias) args[DNNL_ARG_BIAS] = paramMem[o.p1];
      add(fwd, S_HEAD_LOSS, dnnl::inner_product_forward(pd), args);
      opInput[j] = x;
      return true;
    }
  }
  return false;
}

bool Plan::buildBackwardExtra(int j) {
  const Op& o = ops[j];
  Tensor& out = t[o.out];
  switch (o.type) {
    case ELTWISE: {
      Tensor& in = t[o.in0];
      if (!in.req) return true;
      const algo a = eltAlgo(o.k);
      dnnl::eltwise_forward::desc fd(pk::forward_training, a, in.md, float(o.eps), float(o.momentum));
      dnnl::eltwise_forward::primitive_desc fpd(fd, attr(), cpu());
      dnnl::eltwise_backward::desc bd(a, out.md, in.md, float(o.eps), float(o.momentum));
      dnnl::eltwise_backward::primitive_desc pd(bd, attr(), cpu(), fpd);
      noteScratch(pd);
      memory target = contributionTarget(o.in0);
      if (target.get_desc() != in.md || out.md != in.md) throw Failure{"E_INTERNAL", "eltwise: layouts differ"};
      const bool useDst = a == algo::eltwise_logistic_use_dst_for_bwd;
      add(bwd, S_ELTWISE_BWD, dnnl::eltwise_backward(pd),
          {{DNNL_ARG_DIFF_DST, out.diff()}, {useDst ? DNNL_ARG_DST : DNNL_ARG_SRC, useDst ? out.val : in.val}, {DNNL_ARG_DIFF_SRC, target}});
      finishContribution(o.in0, target);
      return true;
    }
    case MUL: {
      Tensor& x = t[o.in0];
      Tensor& s = t[o.in1];
      ChanLayout L;
      chanLayout(x.md, L);
      memory dy = out.diff();
      memory::dims dims = x.dims;
      memory g = opInput[j];  // the gate, plain [N, C], as the forward read it
      if (s.req) {
        memory ds = buf(plainDesc(s.dims));
        memory xv = x.val;
        addFn(bwd, S_ELTWISE_BWD, [dy, xv, ds, L, dims]() { channelDots(dataOf(dy), dataOf(xv), dataOf(ds), L, dims); }, {dy, xv, ds});
        contributeFrom(bwd, o.in1, ds);
      }
      if (x.req) {
        memory target = contributionTarget(o.in0);
        if (target.get_desc() != x.md || dy.get_desc() != x.md) throw Failure{"E_INTERNAL", "mul: layouts differ"};
        addFn(bwd, S_ELTWISE_BWD, [dy, g, target, L, dims]() { scaleChannels(dataOf(dy), dataOf(g), dataOf(target), L, dims); }, {dy, g, target});
        finishContribution(o.in0, target);
      }
      return true;
    }
    case ROWSCALE: {
      Tensor& x = t[o.in0];
      if (!x.req) return true;
      memory dy = out.diff();
      memory target = contributionTarget(o.in0);
      if (target.get_desc() != x.md || dy.get_desc() != x.md) throw Failure{"E_INTERNAL", "rowscale: layouts differ"};
      const memory::dim n = x.dims[0], per = rowFloats(x.md, n);
      const size_t off = size_t(o.k);
      addFn(bwd, S_ELTWISE_BWD, [this, dy, target, n, per, off]() { scaleRows(dataOf(dy), rowMask + off, dataOf(target), n, per); }, {dy, target});
      finishContribution(o.in0, target);
      return true;
    }
    case FC: {
      Tensor& in = t[o.in0];
      const memory::dim n = in.dims[0], f = in.dims[1] * in.dims[2] * in.dims[3], k = out.dims[1];
      const bool bias = param(o.p1);
      memory::desc xd({n, f}, dt::f32, tag::nc), yd({n, k}, dt::f32, tag::nc), wd({k, f}, dt::f32, tag::oi), bd({k}, dt::f32, tag::a);
      auto fd = bias ? dnnl::inner_product_forward::desc(pk::forward_training, xd, wd, bd, yd) : dnnl::inner_product_forward::desc(pk::forward_training, xd, wd, yd);
      dnnl::inner_product_forward::primitive_desc fpd(fd, attr(), cpu());
      memory dy = out.diff();
      if (dy.get_desc() != out.md) throw Failure{"E_INTERNAL", "fc: gradient layout differs"};
      memory dy2 = view(yd, dy);
      if (wantsGrad(o.w) || wantsGrad(o.p1)) {
        for (int p : {o.w, o.p1})
          if (wantsGrad(p) && !gradMem[p]) gradMem[p] = memory(p == o.w ? wd : bd, cpu(), nullptr);
        auto d = bias ? dnnl::inner_product_backward_weights::desc(xd, wd, bd, yd) : dnnl::inner_product_backward_weights::desc(xd, wd, yd);
        dnnl::inner_product_backward_weights::primitive_desc pd(d, attr(), cpu(), fpd);
        noteScratch(pd);
        std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, view(xd, opInput[j])},
                                                {DNNL_ARG_DIFF_DST, dy2},
                                                {DNNL_ARG_DIFF_WEIGHTS, wantsGrad(o.w) ? gradMem[o.w] : buf(wd)}};
        if (bias) args[DNNL_ARG_DIFF_BIAS] = wantsGrad(o.p1) ? gradMem[o.p1] : buf(bd);
        add(bwd, S_HEAD_LOSS, dnnl::inner_product_backward_weights(pd), args);
      }
      if (in.req) {
        dnnl::inner_product_backward_data::desc d(xd, wd, yd);
        dnnl::inner_product_backward_data::primitive_desc pd(d, attr(), cpu(), fpd);
        noteScratch(pd);
        if (in.md == plainDesc(in.dims)) {
          memory target = contributionTarget(o.in0);
          add(bwd, S_HEAD_LOSS, dnnl::inner_product_backward_data(pd),
              {{DNNL_ARG_DIFF_DST, dy2}, {DNNL_ARG_WEIGHTS, paramMem[o.w]}, {DNNL_ARG_DIFF_SRC, view(xd, target)}});
          finishContribution(o.in0, target);
        } else {
          memory dx = buf(plainDesc(in.dims));
          add(bwd, S_HEAD_LOSS, dnnl::inner_product_backward_data(pd),
              {{DNNL_ARG_DIFF_DST, dy2}, {DNNL_ARG_WEIGHTS, paramMem[o.w]}, {DNNL_ARG_DIFF_SRC, view(xd, dx)}});
          contributeFrom(bwd, o.in0, dx);
        }
      }
      return true;
    }
  }
  return false;
}


// dw[c, kh, kw] = sum over n, oh, ow of dy[n, c, oh, ow] * x[n, c, oh*s - pt + kh, ow*s - pl + kw] (dw plain
// [C, 1, k, k]), summed in double; x and dy in blocked layouts with the same channel block.
void depthwiseWeightLoop(const float* x, const float* dy, float* dw, const ChanLayout& Lx, const ChanLayout& Ly, const memory::dims& xd, const memory::dims& yd,
                         int k, int s, int pt, int pl) {
  const memory::dim N = xd[0], C = xd[1], H = xd[2], W = xd[3], OH = yd[2], OW = yd[3], B = Lx.B, nb = Lx.Cp / Lx.B;
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (memory::dim cb = 0; cb < nb; ++cb)
    for (int kh = 0; kh < k; ++kh) {
      double acc[7 * 64];
      std::fill(acc, acc + k * B, 0.0);
      for (memory::dim n = 0; n < N; ++n)
        for (memory::dim oh = 0; oh < OH; ++oh) {
          const memory::dim ih = oh * s - pt + kh;
          if (ih < 0 || ih >= H) continue;
          const float* xr = x + n * Lx.s[0] + cb * Lx.s[1] + ih * Lx.s[2];
          const float* yr = dy + n * Ly.s[0] + cb * Ly.s[1] + oh * Ly.s[2];
          for (memory::dim ow = 0; ow < OW; ++ow) {
            const float* yp = yr + ow * Ly.s[3];
            for (int kw = 0; kw < k; ++kw) {
              const memory::dim iw = ow * s - pl + kw;
              if (iw < 0 || iw >= W) continue;
              const float* xp = xr + iw * Lx.s[3];
              double* a = acc + kw * B;
              for (memory::dim i = 0; i < B; ++i) a[i] += double(yp[i]) * double(xp[i]);
            }
          }
        }
      for (memory::dim i = 0; i < B; ++i) {
        const memory::dim c = cb * B + i;
        if (c < C)
          for (int kw = 0; kw < k; ++kw) dw[(c * k + kh) * k + kw] = float(acc[kw * B + i]);
      }
    }
}

bool Plan::depthwiseWeightsGrad(int j, const std::string& impl) {
  const Op& o = ops[j];
  Tensor& in = t[o.in0];
  Tensor& out = t[o.out];
  if (impl.find("jit_dw") != std::string::npos || getenv("HEADSTART_NATIVE_DW_ONEDNN")) return false;
  if (o.groups != in.dims[1] || o.groups != out.dims[1] || param(o.p1) || !wantsGrad(o.w) || o.k > 7) return false;
  ChanLayout Lx, Ly;
  memory dy = out.diff();
  if (!chanLayout(in.md, Lx) || !chanLayout(dy.get_desc(), Ly) || Lx.B != Ly.B || Lx.Cp != Ly.Cp) return false;
  memory::dims wd = convWeightDims(o.groups, out.dims[1], in.dims[1], o.k);
  if (!gradMem[o.w]) gradMem[o.w] = memory(convWeightPlain(wd), cpu(), nullptr);
  memory x = in.val, dw = gradMem[o.w];
  memory::dims xd = in.dims, yd = out.dims;
  int k = o.k, s = o.s, pt = o.pt, pl = o.pl;
  addFn(bwd, S_CONV_BWD_WEIGHTS, [x, dy, dw, Lx, Ly, xd, yd, k, s, pt, pl]() { depthwiseWeightLoop(dataOf(x), dataOf(dy), dataOf(dw), Lx, Ly, xd, yd, k, s, pt, pl); }, {x, dy, dw});
  return true;
}

void Plan::run() {
  omp_set_num_threads(threads);
  dnnl::stream s(cpu());
  imagesUser.set_data_handle(images);
  logitsMem.set_data_handle(logits);
  for (size_t p = 0; p < paramMem.size(); ++p)
    if (paramMem[p]) paramMem[p].set_data_handle(paramPtr[p]);
  for (size_t p = 0; p < gradMem.size(); ++p)
    if (gradMem[p]) gradMem[p].set_data_handle(gradPtr[p]);
  for (auto* l : {&fwd, &bwd}) {
    for (auto& e : *l) {
      auto t0 = std::chrono::steady_clock::now();
      if (e.fn) {
        e.fn();
      } else {
        e.prim.execute(s, e.args);
        s.wait();
      }
      ms[e.stat] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  steps += 1;
}

// ---------------------------------------------------------------------------------------------
// N-API glue.

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) throw Failure{"E_INTERNAL", "N-API: " #call}; \
  } while (0)

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

std::vector<napi_value> argv(napi_env env, napi_callback_info info, size_t n) {
  std::vector<napi_value> a(n);
  size_t got = n;
  CHECK(napi_get_cb_info(env, info, &got, a.data(), nullptr, nullptr));
  if (got < n) throw Failure{"E_BAD_ARGUMENT", "expected " + std::to_string(n) + " arguments, found " + std::to_string(got)};
  return a;
}

template <typename T>
T* typed(napi_env env, napi_value v, napi_typedarray_type want, size_t* length, const char* what, bool nullable = false) {
  napi_valuetype vt;
  CHECK(napi_typeof(env, v, &vt));
  if (nullable && (vt == napi_null || vt == napi_undefined)) {
    *length = 0;
    return nullptr;
  }
  bool is = false;
  CHECK(napi_is_typedarray(env, v, &is));
  if (!is) throw Failure{"E_BAD_ARGUMENT", std::string(what) + ": expected a typed array"};
  napi_typedarray_type type;
  void* data;
  napi_value ab;
  size_t off;
  CHECK(napi_get_typedarray_info(env, v, &type, length, &data, &ab, &off));
  if (type != want) throw Failure{"E_BAD_ARGUMENT", std::string(what) + ": wrong typed array type"};
  return static_cast<T*>(data);
}

napi_value prop(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  CHECK(napi_get_named_property(env, obj, name, &v));
  return v;
}

void finalizePlan(napi_env, void* data, void*) { delete static_cast<Plan*>(data); }

Plan* planOf(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) throw Failure{"E_BAD_ARGUMENT", "expected a plan made by createPlan"};
  return static_cast<Plan*>(p);
}

napi_value CreatePlan_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argv(env, info, 1);
    auto plan = std::make_unique<Plan>();
    bool train = false;
    CHECK(napi_get_value_bool(env, prop(env, a[0], "train"), &train));
    plan->train = train;
    int32_t threads = 1;
    CHECK(napi_get_value_int32(env, prop(env, a[0], "threads"), &threads));
    plan->threads = std::max(1, threads);
    omp_set_num_threads(plan->threads);
    size_t nt, no, nf, np, ntr;
    const int32_t* tens = typed<int32_t>(env, prop(env, a[0], "tensors"), napi_int32_array, &nt, "tensors");
    const int32_t* ops = typed<int32_t>(env, prop(env, a[0], "ops"), napi_int32_array, &no, "ops");
    const double* opf = typed<double>(env, prop(env, a[0], "opFloats"), napi_float64_array, &nf, "opFloats");
    const int32_t* ps = typed<int32_t>(env, prop(env, a[0], "paramSizes"), napi_int32_array, &np, "paramSizes");
    const int32_t* tr = typed<int32_t>(env, prop(env, a[0], "trainable"), napi_int32_array, &ntr, "trainable");
    if (nt % 4 || no % REC || nf != 2 * (no / REC) || ntr != np || nt == 0) throw Failure{"E_BAD_ARGUMENT", "malformed plan arrays"};
    plan->t.resize(nt / 4);
    for (size_t i = 0; i < nt / 4; ++i) plan->t[i].dims = {tens[4 * i], tens[4 * i + 1], tens[4 * i + 2], tens[4 * i + 3]};
    plan->paramSize.assign(ps, ps + np);
    plan->trainable.assign(tr, tr + np);
    plan->paramMem.resize(np);
    plan->gradMem.resize(np);
    plan->paramPtr.assign(np, nullptr);
    plan->gradPtr.assign(np, nullptr);
    std::vector<Op> list(no / REC);
    for (size_t j = 0; j < list.size(); ++j) {
      const int32_t* r = ops + REC * j;
      list[j] = Op{r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], std::max(1, r[15]), opf[2 * j], opf[2 * j + 1]};
      int nT = int(plan->t.size());
      auto tensorOk = [&](int i) { return i >= 0 && i < nT; };
      if (!tensorOk(r[1]) || !tensorOk(r[3]) || ((r[0] == ADD || r[0] == MUL) && !tensorOk(r[2])) || r[3] == 0)
        throw Failure{"E_BAD_ARGUMENT", "op " + std::to_string(j) + ": tensor id out of range"};
      for (int p : {r[4], r[5], r[6], r[7]})
        if (p >= int(np)) throw Failure{"E_BAD_ARGUMENT", "op " + std::to_string(j) + ": parameter id out of range"};
    }
    plan->build(list.data(), list.size());
    napi_value ext;
    CHECK(napi_create_external(env, plan.get(), finalizePlan, nullptr, &ext));
    plan.release();
    return ext;
  });
}

struct Work {
  Plan* plan;
  napi_async_work work;
  napi_deferred deferred;
  std::vector<napi_ref> refs;
  std::string error;
};

void executeWork(napi_env, void* data) {
  Work* w = static_cast<Work*>(data);
  try {
    w->plan->run();
  } catch (const dnnl::error& e) {
    w->error = std::string("oneDNN: ") + e.what();
  } catch (const std::exception& e) {
    w->error = e.what();
  }
}

void completeWork(napi_env env, napi_status, void* data) {
  Work* w = static_cast<Work*>(data);
  w->plan->busy = false;
  for (auto r : w->refs) napi_delete_reference(env, r);
  if (w->error.empty()) {
    napi_resolve_deferred(env, w->deferred, undefinedValue(env));
  } else {
    napi_value msg, err, code;
    napi_create_string_utf8(env, w->error.c_str(), w->error.size(), &msg);
    napi_create_string_utf8(env, "E_ENGINE_RUN", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, w->deferred, err);
  }
  napi_delete_async_work(env, w->work);
  delete w;
}

// runPlan(plan, images, coefficients|null, params[], grads[], logits, loss, dropoutMask|null, rowMasks|null) -> Promise<void>
napi_value RunPlan_(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = argv(env, info, 9);
    Plan* p = planOf(env, a[0]);
    if (p->busy) throw Failure{"E_ENGINE_RUN", "this plan is already running a step (await the previous one)"};
    if (p->released) throw Failure{"E_ENGINE_RUN", "this plan was released"};
    auto w = std::make_unique<Work>();
    w->plan = p;
    auto keep = [&](napi_value v) {
      napi_ref r;
      CHECK(napi_create_reference(env, v, 1, &r));
      w->refs.push_back(r);
    };
    size_t len;
    p->images = typed<float>(env, a[1], napi_float32_array, &len, "images");
    if (len != numel(p->t[0].dims)) throw Failure{"E_SHAPE_MISMATCH", "images: expected " + std::to_string(numel(p->t[0].dims)) + " values, found " + std::to_string(len)};
    keep(a[1]);
    p->coeffs = typed<float>(env, a[2], napi_float32_array, &len, "coefficients", !p->train);
    if (p->train && len != size_t(p->N) * p->K) throw Failure{"E_SHAPE_MISMATCH", "coefficients: expected " + std::to_string(p->N * p->K) + " values"};
    if (p->coeffs) keep(a[2]);
    uint32_t np = 0, ng = 0;
    CHECK(napi_get_array_length(env, a[3], &np));
    CHECK(napi_get_array_length(env, a[4], &ng));
    if (np != p->paramSize.size() || ng != p->paramSize.size()) throw Failure{"E_BAD_ARGUMENT", "params and grads: expected one entry per plan parameter"};
    for (uint32_t i = 0; i < np; ++i) {
      napi_value v;
      CHECK(napi_get_element(env, a[3], i, &v));
      p->paramPtr[i] = typed<float>(env, v, napi_float32_array, &len, "params[i]");
      if (len != size_t(p->paramSize[i])) throw Failure{"E_SHAPE_MISMATCH", "params[" + std::to_string(i) + "]: expected " + std::to_string(p->paramSize[i]) + " values, found " + std::to_string(len)};
      keep(v);
      CHECK(napi_get_element(env, a[4], i, &v));
      p->gradPtr[i] = typed<float>(env, v, napi_float32_array, &len, "grads[i]", true);
      if (p->wantsGrad(int(i)) && (!p->gradPtr[i] || len != size_t(p->paramSize[i])))
        throw Failure{"E_SHAPE_MISMATCH", "grads[" + std::to_string(i) + "]: expected a Float32Array of " + std::to_string(p->paramSize[i]) + " values"};
      if (p->gradPtr[i]) keep(v);
    }
    p->logits = typed<float>(env, a[5], napi_float32_array, &len, "logits");
    if (len != size_t(p->N) * p->K) throw Failure{"E_SHAPE_MISMATCH", "logits: expected " + std::to_string(p->N * p->K) + " values"};
    keep(a[5]);
    p->loss = typed<double>(env, a[6], napi_float64_array, &len, "loss");
    if (len < 1) throw Failure{"E_SHAPE_MISMATCH", "loss: expected a Float64Array of 1"};
    keep(a[6]);
    p->mask = typed<float>(env, a[7], napi_float32_array, &len, "dropoutMask", !p->dropout);
    if (p->dropout && len != size_t(p->N) * p->F)
      throw Failure{"E_SHAPE_MISMATCH", "dropoutMask: expected " + std::to_string(size_t(p->N) * p->F) + " values, found " + std::to_string(len)};
    if (p->mask) keep(a[7]);
    p->rowMask = typed<float>(env, a[8], napi_float32_array, &len, "rowMasks", p->rowMaskLen == 0);
    if (p->rowMaskLen && len != p->rowMaskLen)
      throw Failure{"E_SHAPE_MISMATCH", "rowMasks: expected " + std::to_string(p->rowMaskLen) + " values, found " + std::to_string(len)};
    if (p->rowMask) keep(a[8]);
    napi_value promise, name;
    CHECK(napi_create_promise(env, &w->deferred, &promise));
    CHECK(napi_create_string_utf8(env, "headstart-native-step", NAPI_AUTO_LENGTH, &name));
    CHECK(napi_create_async_work(env, nullptr, name, executeWork, completeWork, w.get(), &w->work));
    CHECK(napi_queue_async_work(env, w->work));
    p->busy = true;
    w.release();
    return promise;
  });
}

napi_value PlanStats_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argv(env, info, 1);
    Plan* p = planOf(env, a[0]);
    napi_value obj, names, ms, steps;
    CHECK(napi_create_object(env, &obj));
    CHECK(napi_create_array_with_length(env, S_COUNT, &names));
    CHECK(napi_create_array_with_length(env, S_COUNT, &ms));
    for (int i = 0; i < S_COUNT; ++i) {
      napi_value s, v;
      CHECK(napi_create_string_utf8(env, STAT_NAMES[i], NAPI_AUTO_LENGTH, &s));
      CHECK(napi_create_double(env, p->ms[i], &v));
      CHECK(napi_set_element(env, names, i, s));
      CHECK(napi_set_element(env, ms, i, v));
    }
    CHECK(napi_create_double(env, p->steps, &steps));
    CHECK(napi_set_named_property(env, obj, "names", names));
    CHECK(napi_set_named_property(env, obj, "ms", ms));
    CHECK(napi_set_named_property(env, obj, "steps", steps));
    // The plan's buffers: bytes of the arena placed by liveness, and what one buffer each would take.
    int winograd = 0, convs = 0;
    for (size_t j = 0; j < p->ops.size(); ++j)
      if (p->ops[j].type == CONV) {
        ++convs;
        if (p->convAlgo[j] == algo::convolution_winograd) ++winograd;
      }
    const std::pair<const char*, double> extra[] = {{"bufferBytes", double(p->arenaBytes)},
                                                    {"unsharedBufferBytes", double(p->arenaNaiveBytes)},
                                                    {"convs", double(convs)},
                                                    {"winogradConvs", double(winograd)}};
    for (auto& [key, value] : extra) {
      napi_value v;
      CHECK(napi_create_double(env, value, &v));
      CHECK(napi_set_named_property(env, obj, key, v));
    }
    return obj;
  });
}

// Frees a plan's buffers and primitives now (the handle stays valid; later runs are refused).
napi_value PlanRelease_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argv(env, info, 1);
    Plan* p = planOf(env, a[0]);
    if (p->busy) throw Failure{"E_ENGINE_RUN", "release: the plan is running a step (await it first)"};
    p->released = true;
    p->fwd.clear();
    p->bwd.clear();
    p->t.clear();
    p->bnStats.clear();
    p->opInput.clear();
    p->paramMem.clear();
    p->gradMem.clear();
    p->scratch = memory();
    p->featPlain = memory();
    p->dfeatPlain = memory();
    p->featDropped = memory();
    p->arenaMem.clear();
    p->arenaIndex.clear();
    std::free(p->arena);
    p->arena = nullptr;
    return undefinedValue(env);
  });
}

napi_value PlanReset_(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argv(env, info, 1);
    Plan* p = planOf(env, a[0]);
    std::fill(p->ms.begin(), p->ms.end(), 0.0);
    p->steps = 0;
    return undefinedValue(env);
  });
}

}  // namespace hsplan

// The plan interface's version (op kinds, record layout, runPlan's arguments). src/engine/native-plan.ts
// refuses an addon whose planAbi differs (built from older sources: the JS side would send op kinds or
// arguments it does not know) and says to rebuild it, so --engine auto falls back instead of failing a run.
// Bump it with any change to that interface.
static const int kPlanAbi = 2;

// Called from headstart_dnnl.cc's module init: adds the plan functions to the addon's exports.
void RegisterPlanExports(napi_env env, napi_value exports) {
  napi_value abi;
  napi_create_int32(env, kPlanAbi, &abi);
  napi_property_descriptor props[] = {
      {"planAbi", nullptr, nullptr, nullptr, nullptr, abi, napi_enumerable, nullptr},
      {"createPlan", nullptr, hsplan::CreatePlan_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"runPlan", nullptr, hsplan::RunPlan_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"planStats", nullptr, hsplan::PlanStats_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"planReset", nullptr, hsplan::PlanReset_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"planRelease", nullptr, hsplan::PlanRelease_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
