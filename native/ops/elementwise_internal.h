// Shared pieces of the elementwise operator family (ops/elementwise*.cc): the broadcast planner, element-type
// dispatch, and the float32 loop tables that exist once per ISA (portable in ops/elementwise_f32.cc, AVX2+FMA in
// kernels/x86/eltwise-f32-avx2.cc, both generated from ops/elementwise_vec.h).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/op_kernel.h"

namespace int8rt {
namespace eltwise {

// ---------------------------------------------------------------------------------------------------------------
// Broadcasting (numpy multidirectional rules).

// The broadcast of all `shapes` into *out; a kShape error naming the node when two dims differ and neither is 1.
Status broadcast_dims(const NodeDef& node, std::initializer_list<const Dims*> shapes, Dims* out);
Status broadcast_dims(const NodeDef& node, const std::vector<const Dims*>& shapes, Dims* out);

// How to walk an output of shape `out` while reading up to kMaxInputs inputs that broadcast to it. Output dims of
// size 1 are dropped and neighbouring dims that every input either spans or repeats alike are merged, so the common
// CNN cases collapse to one or two loops: same shape -> [n] (all inputs contiguous); scalar -> [n] with a repeated
// value; per-channel [1,C,1,1] against [N,C,H,W] -> [N, C, H*W]; bias rows [K] against [M,K] -> [M, K].
// The walk goes over the output in order; each step is a "run" along the innermost merged dim, in which every
// input either advances by one element (inner_vec) or repeats one element.
struct BroadcastPlan {
  static constexpr int kMaxInputs = 3;
  int num_inputs = 0;
  int64_t numel = 0;                         // output elements
  std::vector<int64_t> dims;                 // merged dims, outermost first; never empty
  std::vector<int64_t> strides[kMaxInputs];  // element stride of each input along each merged dim, 0 = repeated
  bool inner_vec[kMaxInputs] = {false, false, false};

  // False when an input does not broadcast to `out` (callers check shapes first and report the error).
  bool init(const Dims& out, std::initializer_list<const Dims*> inputs);

  int64_t inner() const { return dims.back(); }

  // Calls fn(out_offset, in_offsets, len) for the runs that cover output elements [begin, end), in order.
  template <typename Fn>
  void for_each_run(int64_t begin, int64_t end, Fn&& fn) const;
};

template <typename Fn>
void BroadcastPlan::for_each_run(int64_t begin, int64_t end, Fn&& fn) const {
  if (begin >= end) return;
  const int outer_rank = int(dims.size()) - 1;
  const int64_t in_len = dims.back();
  int64_t row = begin / in_len, col = begin % in_len;
  // Multi-index of the current row over the outer dims, and each input's offset at the start of that row.
  int64_t idx_small[8];
  std::vector<int64_t> idx_big;
  int64_t* idx = idx_small;
  if (outer_rank > 8) {
    idx_big.resize(size_t(outer_rank));
    idx = idx_big.data();
  }
  int64_t base[kMaxInputs] = {0, 0, 0};
  for (int d = outer_rank - 1; d >= 0; d--) {
    idx[d] = row % dims[size_t(d)];
    row /= dims[size_t(d)];
    for (int k = 0; k < num_inputs; k++) base[k] += idx[d] * strides[k][size_t(d)];
  }
  int64_t off[kMaxInputs];
  int64_t pos = begin;
  for (;;) {
    const int64_t len = in_len - col < end - pos ? in_len - col : end - pos;
    for (int k = 0; k < num_inputs; k++) off[k] = base[k] + (inner_vec[k] ? col : 0);
    fn(pos, static_cast<const int64_t*>(off), len);
    pos += len;
    if (pos >= end) return;
    col = 0;
    for (int d = outer_rank - 1; d >= 0; d--) {  // next row: odometer step with carry
      const size_t du = size_t(d);
      for (int k = 0; k < num_inputs; k++) base[k] += strides[k][du];
      if (++idx[d] < dims[du]) break;
      for (int k = 0; k < num_inputs; k++) base[k] -= strides[k][du] * dims[du];
      idx[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Element-type dispatch: calls fn(Tag<T>{}) with the C++ type T of `dt` when it is one of Ts. bool tensors are
// stored as one byte per element (0/1) and handled through uint8_t by the operators that accept them.

template <typename T>
struct Tag {
  using type = T;
};
template <typename... Ts>
struct TypeList {};

template <typename... Ts, typename Fn>
bool dispatch(TypeList<Ts...>, DType dt, Fn&& fn) {
  bool hit = false;
  (void)((DTypeOf<Ts>::value == dt ? (fn(Tag<Ts>{}), hit = true) : false) || ...);
  return hit;
}

using IntTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;
using UnsignedTypes = TypeList<uint8_t, uint16_t, uint32_t, uint64_t>;
using NumericTypes = TypeList<float, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;

// Elements per parallel task: cheap loops (add, copy) are memory bound and want large chunks; transcendental ones
// (exp, erf) are compute bound and split finer.
constexpr int64_t kGrainCheap = 32768;
constexpr int64_t kGrainHeavy = 4096;

// float16 <-> float32 over arrays (IEEE binary16, round to nearest even).
void half_to_float_array(const uint16_t* x, float* y, int64_t n);
void float_to_half_array(const float* x, uint16_t* y, int64_t n);

// ---------------------------------------------------------------------------------------------------------------
// float32 loop tables, one per ISA.

enum class UnaryOp : int {
  kRelu, kLeakyRelu, kElu, kSelu, kCelu, kSigmoid, kHardSigmoid, kHardSwish, kSwish, kTanh, kExp, kLog, kSqrt,
  kAbs, kNeg, kReciprocal, kFloor, kCeil, kRound, kErf, kSign, kSoftplus, kSoftsign, kMish, kGelu, kGeluTanh,
  kThresholdedRelu, kShrink, kClip, kSquare, kCube,
  // Evaluated one element at a time through the C library (rare in models).
  kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
};

// Attribute values, by operator: LeakyRelu/Elu/Celu/ThresholdedRelu/Swish alpha; HardSigmoid alpha, beta;
// Selu alpha, gamma; Shrink lambd -> alpha, bias -> beta; Clip min -> lo, max -> hi.
struct UnaryParams {
  float alpha = 0, beta = 0, gamma = 0;
  float lo = 0, hi = 0;
};

enum class BinaryOp : int { kAdd, kSub, kMul, kDiv, kMax, kMin, kPRelu };

struct F32Kernels {
  const char* isa;
  void (*unary)(UnaryOp op, const UnaryParams& p, const float* x, float* y, int64_t n);
  // y[i] = a[a_vec ? i : 0] op b[b_vec ? i : 0] for i in [0, n). PRelu: a is x, b the slope.
  void (*binary)(BinaryOp op, const float* a, bool a_vec, const float* b, bool b_vec, float* y, int64_t n);
};

const F32Kernels& f32_kernels_portable();
#if defined(__x86_64__) || defined(_M_X64)
const F32Kernels& f32_kernels_avx2();  // kernels/x86/eltwise-f32-avx2.cc
#endif
// The table for the active ISA (use_avx2()).
const F32Kernels& f32_kernels();

// A bad attribute value (kInvalidArgument), the message naming the node.
inline Status attr_error(const NodeDef& node, const std::string& what) {
  return Status(ErrorCode::kInvalidArgument, node.describe() + ": " + what);
}

// Registration of the family's parts (one file each).
void register_unary_ops(KernelRegistry& r);   // ops/elementwise_unary.cc
void register_binary_ops(KernelRegistry& r);  // ops/elementwise_binary.cc
void register_cast_ops(KernelRegistry& r);    // ops/elementwise_cast.cc

}  // namespace eltwise
}  // namespace int8rt
