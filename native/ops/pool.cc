// Pooling: MaxPool, AveragePool, LpPool (1-D, 2-D and 3-D windows) and GlobalAveragePool, GlobalMaxPool,
// GlobalLpPool.
//
// Windowed pools are separable, so each (image, channel) plane is pooled one output row at a time: the valid input
// rows of the window (depth x height taps) are first combined elementwise into a row buffer (a vectorised pass over
// whole rows), then each output element combines its valid width taps of that buffer (an unrolled loop for the
// common 2- and 3-wide undilated kernels). Padding never enters the buffers: taps outside the input are skipped,
// and AveragePool divides by the per-axis tap counts (with or without the padded positions, count_include_pad).
// MaxPool with its Indices output needs the arg max, which is not separable; it takes a direct loop instead.
// Work is split over N*C planes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/thread_pool.h"
#include "ops/pool_params.h"
#include "ops/registry.h"

namespace int8rt {
namespace {

// Element operations below which splitting a loop over the thread pool costs more than it saves (waking a
// worker is a few microseconds).
constexpr int64_t kMinParallelWork = 65536;

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, work_per_item));
}

enum class PoolKind { kMax, kAvg, kLp };

const char* pool_kind_name(PoolKind k) { return k == PoolKind::kMax ? "max" : k == PoolKind::kAvg ? "avg" : "lp"; }

// ---------------------------------------------------------------------------------------------- geometry

using pool_params::Axis;

// The window attributes (ops/pool_params.h) and what only the float pools read.
struct PoolAttrs : pool_params::WindowAttrs {
  int64_t storage_order = 0;
  float p = 2.f;
};

// ---------------------------------------------------------------------------------------------- element ops

template <typename T>
T lowest_value() {
  return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
}

template <typename T> struct MaxOp {
  static T init() { return lowest_value<T>(); }
  static T map(T x) { return x; }
  static T combine(T a, T b) { return a < b ? b : a; }
};
template <typename T> struct SumOp {
  static T init() { return T(0); }
  static T map(T x) { return x; }
  static T combine(T a, T b) { return a + b; }
};
template <typename T> struct SquareSumOp {
  static T init() { return T(0); }
  static T map(T x) { return x * x; }
  static T combine(T a, T b) { return a + b; }
};
template <typename T> struct AbsSumOp {
  static T init() { return T(0); }
  static T map(T x) { return std::fabs(x); }
  static T combine(T a, T b) { return a + b; }
};

// Maps from an input element to what the windowed pools accumulate (kIdentity lets a single row skip its copy).
template <typename T> struct IdentityMap {
  static constexpr bool kIdentity = true;
  T map(T x) const { return x; }
};
template <typename T> struct SquareMap {
  static constexpr bool kIdentity = false;
  T map(T x) const { return x * x; }
};
template <typename T> struct AbsMap {
  static constexpr bool kIdentity = false;
  T map(T x) const { return std::fabs(x); }
};
template <typename T> struct PowMap {  // LpPool with p other than 1 and 2
  static constexpr bool kIdentity = false;
  T p;
  T map(T x) const { return std::pow(std::fabs(x), p); }
};

// ---------------------------------------------------------------------------------------------- separable pooling

// What happens to a row of combined windows: averages divide by their tap counts (through reciprocals cached
// per row shape), Lp pools take the p-th root, max pools keep the value.
template <typename T>
struct Finisher {
  PoolKind kind = PoolKind::kMax;
  int lp = 2;   // Lp: 1, 2 or 0 (any other p)
  T inv_p = 0;  // Lp: 1/p

  // `dh` is the output row's depth x height tap count, cnt_w[ow] each output's width taps; `inv` is scratch of
  // the row's width that keeps its reciprocals while dh stays the same (*inv_dh records which dh they are for).
  void row(T* out, int64_t n, int64_t dh, const int64_t* cnt_w, T* inv, int64_t* inv_dh) const {
    if (kind == PoolKind::kAvg) {
      if (*inv_dh != dh) {
        for (int64_t i = 0; i < n; i++) inv[i] = dh * cnt_w[i] > 0 ? T(1) / T(dh * cnt_w[i]) : T(0);
        *inv_dh = dh;
      }
      for (int64_t i = 0; i < n; i++) out[i] *= inv[i];
    } else if (kind == PoolKind::kLp) {
      if (lp == 2)
        for (int64_t i = 0; i < n; i++) out[i] = std::sqrt(out[i]);
      else if (lp == 0)
        for (int64_t i = 0; i < n; i++) out[i] = std::pow(out[i], inv_p);
    }
  }
};

// Combines row buffer `r` (the input width) horizontally into y[0..OW) for one output row: each output folds its
// valid width taps.
template <typename T, typename Op>
void pool_row_horizontal(const T* r, const Axis& aw, T* y) {
  const int64_t k = aw.k, s = aw.s, d = aw.d;
  auto generic = [&](int64_t ow) {
    int64_t lo, hi;
    aw.taps(ow, &lo, &hi);
    const T* rp = r + aw.start(ow);
    T acc = Op::init();
    for (int64_t t = lo; t < hi; t++) acc = Op::combine(acc, rp[t * d]);
    y[ow] = acc;
  };
  for (int64_t ow = 0; ow < aw.full_lo; ow++) generic(ow);
  const int64_t lo = aw.full_lo, hi = aw.full_hi;
  const T* base = r - aw.pad_b;
  // Constant strides let g++ vectorise the interleaved loads of the common CNN windows.
  if (d == 1 && k == 3 && s == 2) {
    for (int64_t ow = lo; ow < hi; ow++)
      y[ow] = Op::combine(Op::combine(base[2 * ow], base[2 * ow + 1]), base[2 * ow + 2]);
  } else if (d == 1 && k == 3 && s == 1) {
    for (int64_t ow = lo; ow < hi; ow++) y[ow] = Op::combine(Op::combine(base[ow], base[ow + 1]), base[ow + 2]);
  } else if (d == 1 && k == 2 && s == 2) {
    for (int64_t ow = lo; ow < hi; ow++) y[ow] = Op::combine(base[2 * ow], base[2 * ow + 1]);
  } else if (d == 1 && k == 3) {
    for (int64_t ow = lo; ow < hi; ow++) {
      const T* rp = base + ow * s;
      y[ow] = Op::combine(Op::combine(rp[0], rp[1]), rp[2]);
    }
  } else if (d == 1 && k == 2) {
    for (int64_t ow = lo; ow < hi; ow++) {
      const T* rp = base + ow * s;
      y[ow] = Op::combine(rp[0], rp[1]);
    }
  } else if (k == 1) {
    for (int64_t ow = lo; ow < hi; ow++) y[ow] = base[ow * s];
  } else {
    for (int64_t ow = lo; ow < hi; ow++) {
      const T* rp = base + ow * s;
      T acc = rp[0];
      for (int64_t t = 1; t < k; t++) acc = Op::combine(acc, rp[t * d]);
      y[ow] = acc;
    }
  }
  for (int64_t ow = std::max(lo, hi); ow < aw.out; ow++) generic(ow);
}

// Pools every plane in [p0, p1) of a [planes, D, H, W] tensor (1-D and 2-D windows use D = H = 1 or D = 1).
// `Map` turns inputs into accumulands (identity, square, |x|, |x|^p); Op combines them.
template <typename T, typename Op, typename Map>
void pool_planes(const T* x, T* y, int64_t p0, int64_t p1, const Axis& ad, const Axis& ah, const Axis& aw,
                 const Map& map, const Finisher<T>& fin, bool include_pad, const int64_t* cnt_w,
                 std::vector<T>* rowbuf_storage, std::vector<T>* inv_storage) {
  const int64_t ID = ad.in, IH = ah.in, IW = aw.in, OD = ad.out, OH = ah.out, OW = aw.out;
  rowbuf_storage->resize(size_t(IW));
  inv_storage->resize(size_t(OW));
  T* row = rowbuf_storage->data();
  T* inv = inv_storage->data();
  int64_t inv_dh = -1;
  std::vector<const T*> srcs;  // the valid input rows of one window
  for (int64_t pl = p0; pl < p1; pl++) {
    const T* xp = x + pl * ID * IH * IW;
    T* yp = y + pl * OD * OH * OW;
    for (int64_t od = 0; od < OD; od++) {
      int64_t dlo, dhi;
      ad.taps(od, &dlo, &dhi);
      const int64_t dcnt = include_pad ? ad.padded_taps(od) : dhi - dlo;
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t hlo, hhi;
        ah.taps(oh, &hlo, &hhi);
        const int64_t hcnt = include_pad ? ah.padded_taps(oh) : hhi - hlo;
        // Vertical pass: combine the valid rows of the window into `row`, two source rows per sweep.
        srcs.clear();
        for (int64_t td = dlo; td < dhi; td++) {
          const int64_t id = ad.start(od) + td * ad.d;
          for (int64_t th = hlo; th < hhi; th++) srcs.push_back(xp + (id * IH + ah.start(oh) + th * ah.d) * IW);
        }
        T* out = yp + (od * OH + oh) * OW;
        const size_t nsrc = srcs.size();
        if (nsrc == 0) {  // no valid row: every window of this output row is empty
          for (int64_t ow = 0; ow < OW; ow++) out[ow] = fin.kind == PoolKind::kMax ? Op::init() : T(0);
          continue;
        }
        const T* combined = row;
        if (nsrc == 1 && Map::kIdentity) {
          combined = srcs[0];  // a single row needs no copy
        } else if (nsrc == 1) {
          for (int64_t w = 0; w < IW; w++) row[w] = map.map(srcs[0][w]);
        } else {
          const T *a = srcs[0], *b = srcs[1];
          for (int64_t w = 0; w < IW; w++) row[w] = Op::combine(map.map(a[w]), map.map(b[w]));
          size_t i = 2;
          for (; i + 1 < nsrc; i += 2) {
            const T *c = srcs[i], *e = srcs[i + 1];
            for (int64_t w = 0; w < IW; w++) row[w] = Op::combine(row[w], Op::combine(map.map(c[w]), map.map(e[w])));
          }
          if (i < nsrc)
            for (int64_t w = 0; w < IW; w++) row[w] = Op::combine(row[w], map.map(srcs[i][w]));
        }
        pool_row_horizontal<T, Op>(combined, aw, out);
        fin.row(out, OW, dcnt * hcnt, cnt_w, inv, &inv_dh);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- MaxPool + Indices

// Direct loop for MaxPool with its Indices output: the first maximum in window order, its position as a flat
// index into the input (row-major, or column-major over the spatial axes when storage_order = 1).
template <typename T>
void max_pool_with_indices(const T* x, T* y, int64_t* idx, int64_t planes, const Axis& ad, const Axis& ah,
                           const Axis& aw, bool col_major, int spatial_rank, ThreadPool* pool) {
  const int64_t ID = ad.in, IH = ah.in, IW = aw.in, OD = ad.out, OH = ah.out, OW = aw.out;
  const int64_t plane_in = ID * IH * IW, plane_out = OD * OH * OW;
  // Column-major strides over the real spatial axes: the first spatial axis varies fastest.
  int64_t sd = IH * IW, sh = IW, sw = 1;
  if (col_major) {
    if (spatial_rank == 3) {
      sd = 1;
      sh = ID;
      sw = ID * IH;
    } else if (spatial_rank == 2) {
      sh = 1;
      sw = IH;
    }
  }
  parallel_for(pool, planes, grain_for(plane_out * ad.k * ah.k * aw.k), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; pl++) {
      const T* xp = x + pl * plane_in;
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++)
          for (int64_t ow = 0; ow < OW; ow++) {
            int64_t dlo, dhi, hlo, hhi, wlo, whi;
            ad.taps(od, &dlo, &dhi);
            ah.taps(oh, &hlo, &hhi);
            aw.taps(ow, &wlo, &whi);
            T best = lowest_value<T>();
            int64_t bd = -1, bh = -1, bw = -1;
            for (int64_t td = dlo; td < dhi; td++) {
              const int64_t id = ad.start(od) + td * ad.d;
              for (int64_t th = hlo; th < hhi; th++) {
                const int64_t ih = ah.start(oh) + th * ah.d;
                const T* src = xp + (id * IH + ih) * IW;
                for (int64_t tw = wlo; tw < whi; tw++) {
                  const int64_t iw = aw.start(ow) + tw * aw.d;
                  if (bd < 0 || best < src[iw]) {
                    best = src[iw];
                    bd = id;
                    bh = ih;
                    bw = iw;
                  }
                }
              }
            }
            const int64_t o = pl * plane_out + (od * OH + oh) * OW + ow;
            y[o] = best;
            idx[o] = bd < 0 ? -1 : pl * plane_in + bd * sd + bh * sh + bw * sw;
          }
    }
  });
}

// ---------------------------------------------------------------------------------------------- windowed kernel

class PoolKernel : public OpKernel {
 public:
  PoolKernel(PoolKind kind, PoolAttrs attrs) : kind_(kind), a_(std::move(attrs)) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "missing input 'X'");
    const Dims& dims = x->dims();
    const size_t sr = a_.kernel.size();
    INT8RT_RETURN_IF_ERROR(pool_params::check_input_rank(node, dims, sr));
    const DType dt = x->dtype();
    const bool float_type = dt == DType::kFloat32 || dt == DType::kFloat64;
    const bool int_type = dt == DType::kInt8 || dt == DType::kUint8;
    if (!(float_type || (kind_ == PoolKind::kMax && int_type)))
      return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " is not supported");
    std::vector<Axis> axes;
    INT8RT_RETURN_IF_ERROR(pool_params::plan_axes(node, a_, dims, &axes));
    const Dims out_dims = pool_params::pooled_dims(dims, axes);
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, out_dims, &y));
    const bool want_indices = kind_ == PoolKind::kMax && ctx.output_used(1);
    Tensor* indices = nullptr;
    if (want_indices) INT8RT_RETURN_IF_ERROR(ctx.allocate_output(1, DType::kInt64, out_dims, &indices));
    if (y->numel() == 0) return Status::OK();
    pool_params::pad_axes_to_3d(&axes);
    const int64_t planes = dims[0] * dims[1];
    auto run = [&](auto tag) {
      using T = decltype(tag);
      if (want_indices)
        max_pool_with_indices<T>(x->data<T>(), y->data<T>(), indices->data<int64_t>(), planes, axes[0], axes[1],
                                 axes[2], a_.storage_order == 1, int(sr), ctx.pool());
      else
        run_separable<T>(x->data<T>(), y->data<T>(), planes, axes, ctx.pool());
    };
    switch (dt) {
      case DType::kFloat64: run(double()); break;
      case DType::kInt8: run(int8_t()); break;
      case DType::kUint8: run(uint8_t()); break;
      default: run(float()); break;
    }
    return Status::OK();
  }

  std::string kernel_name() const override {
    return std::string(kind_ == PoolKind::kMax ? "maxpool" : kind_ == PoolKind::kAvg ? "averagepool" : "lppool") +
           "_fp32_" + std::to_string(a_.kernel.size()) + "d";
  }

 private:
  template <typename T>
  void run_separable(const T* x, T* y, int64_t planes, const std::vector<Axis>& axes, ThreadPool* pool) const {
    const Axis &ad = axes[0], &ah = axes[1], &aw = axes[2];
    const bool include_pad = kind_ == PoolKind::kAvg && a_.count_include_pad;
    std::vector<int64_t> cnt_w(size_t(aw.out));
    for (int64_t ow = 0; ow < aw.out; ow++) {
      int64_t lo, hi;
      aw.taps(ow, &lo, &hi);
      cnt_w[size_t(ow)] = include_pad ? aw.padded_taps(ow) : hi - lo;
    }
    Finisher<T> fin;
    fin.kind = kind_;
    if (kind_ == PoolKind::kLp) {
      fin.lp = a_.p == 2.f ? 2 : a_.p == 1.f ? 1 : 0;
      fin.inv_p = T(1) / T(a_.p);
    }
    const int64_t per_plane = ad.out * ah.out * (aw.in * ad.k * ah.k + aw.out * aw.k);
    parallel_for(pool, planes, grain_for(per_plane), [&](int64_t b, int64_t e) {
      std::vector<T> row, inv;
      if constexpr (std::is_floating_point<T>::value) {
        if (kind_ == PoolKind::kAvg) {
          pool_planes<T, SumOp<T>>(x, y, b, e, ad, ah, aw, IdentityMap<T>(), fin, include_pad, cnt_w.data(), &row,
                                   &inv);
          return;
        }
        if (kind_ == PoolKind::kLp) {
          if (fin.lp == 2)
            pool_planes<T, SumOp<T>>(x, y, b, e, ad, ah, aw, SquareMap<T>(), fin, false, cnt_w.data(), &row, &inv);
          else if (fin.lp == 1)
            pool_planes<T, SumOp<T>>(x, y, b, e, ad, ah, aw, AbsMap<T>(), fin, false, cnt_w.data(), &row, &inv);
          else
            pool_planes<T, SumOp<T>>(x, y, b, e, ad, ah, aw, PowMap<T>{T(a_.p)}, fin, false, cnt_w.data(), &row,
                                     &inv);
          return;
        }
      }
      pool_planes<T, MaxOp<T>>(x, y, b, e, ad, ah, aw, IdentityMap<T>(), fin, false, cnt_w.data(), &row, &inv);
    });
  }

  PoolKind kind_;
  PoolAttrs a_;
};

Status parse_pool_attrs(const KernelInfo& info, PoolKind kind, PoolAttrs* a) {
  const NodeDef& node = info.node();
  INT8RT_RETURN_IF_ERROR(pool_params::parse_window_attrs(node, a));
  a->storage_order = node.attr_int("storage_order", 0);
  if (a->storage_order != 0 && a->storage_order != 1)
    return shape_error(node, "attribute 'storage_order' must be 0 or 1");
  if (kind == PoolKind::kLp) {
    a->p = node.attr_float("p", 2.f);
    if (!(a->p > 0.f)) return shape_error(node, "attribute 'p' must be positive");
  }
  return Status::OK();
}

template <PoolKind K>
Status make_pool(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  PoolAttrs a;
  INT8RT_RETURN_IF_ERROR(parse_pool_attrs(info, K, &a));
  out->reset(new PoolKernel(K, std::move(a)));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------- global pools

// Lane-split fold over a plane (vectorises without -ffast-math).
template <typename T, typename Op>
T fold_plane(const T* x, int64_t n) {
  constexpr int kLanes = sizeof(T) == 4 ? 16 : 8;
  T acc = Op::init();
  int64_t i = 0;
  if (n >= 2 * kLanes) {
    T lane[kLanes];
    for (int l = 0; l < kLanes; l++) lane[l] = Op::init();
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; l++) lane[l] = Op::combine(lane[l], Op::map(x[i + l]));
    for (int l = 0; l < kLanes; l++) acc = Op::combine(acc, lane[l]);
  }
  for (; i < n; i++) acc = Op::combine(acc, Op::map(x[i]));
  return acc;
}

class GlobalPoolKernel : public OpKernel {
 public:
  GlobalPoolKernel(PoolKind kind, float p) : kind_(kind), p_(p) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "missing input 'X'");
    const Dims& dims = x->dims();
    if (dims.size() < 2) return shape_error(node, "input must have rank >= 2, got " + dims_str(dims));
    const DType dt = x->dtype();
    if (dt != DType::kFloat32 && dt != DType::kFloat64)
      return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " is not supported");
    Dims out_dims;
    int64_t plane_size = 0, num_planes = 0;
    INT8RT_RETURN_IF_ERROR(pool_params::plan_global_pool(node, dims, &out_dims, &plane_size, &num_planes));
    const int64_t s = plane_size, planes = num_planes;  // const: the loops below read them through [&]
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, out_dims, &y));
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x->data<T>();
      T* yp = y->data<T>();
      const int lp = p_ == 2.f ? 2 : p_ == 1.f ? 1 : 0;
      parallel_for(ctx.pool(), planes, grain_for(s), [&](int64_t b, int64_t e) {
        for (int64_t pl = b; pl < e; pl++) {
          const T* xr = xp + pl * s;
          switch (kind_) {
            case PoolKind::kAvg: yp[pl] = fold_plane<T, SumOp<T>>(xr, s) / T(s); break;
            case PoolKind::kMax: yp[pl] = fold_plane<T, MaxOp<T>>(xr, s); break;
            case PoolKind::kLp:
              if (lp == 2) {
                yp[pl] = std::sqrt(fold_plane<T, SquareSumOp<T>>(xr, s));
              } else if (lp == 1) {
                yp[pl] = fold_plane<T, AbsSumOp<T>>(xr, s);
              } else {
                T acc = 0;
                for (int64_t i = 0; i < s; i++) acc += std::pow(std::fabs(xr[i]), T(p_));
                yp[pl] = std::pow(acc, T(1) / T(p_));
              }
              break;
          }
        }
      });
    };
    if (dt == DType::kFloat64)
      run(double());
    else
      run(float());
    return Status::OK();
  }

  std::string kernel_name() const override { return std::string("global_") + pool_kind_name(kind_) + "pool_fp32"; }

 private:
  PoolKind kind_;
  float p_;
};

template <PoolKind K>
Status make_global_pool(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  float p = 2.f;
  if (K == PoolKind::kLp) {
    p = info.node().attr_float("p", 2.f);
    if (!(p > 0.f)) return shape_error(info.node(), "attribute 'p' must be positive");
  }
  out->reset(new GlobalPoolKernel(K, p));
  return Status::OK();
}

}  // namespace

void register_pool_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision fp32 = Precision::kFp32;
  r.add({"MaxPool", "", 1, 0, cpu, fp32, "maxpool_fp32", &make_pool<PoolKind::kMax>});
  r.add({"AveragePool", "", 1, 0, cpu, fp32, "averagepool_fp32", &make_pool<PoolKind::kAvg>});
  r.add({"LpPool", "", 1, 0, cpu, fp32, "lppool_fp32", &make_pool<PoolKind::kLp>});
  r.add({"GlobalAveragePool", "", 1, 0, cpu, fp32, "global_avgpool_fp32", &make_global_pool<PoolKind::kAvg>});
  r.add({"GlobalMaxPool", "", 1, 0, cpu, fp32, "global_maxpool_fp32", &make_global_pool<PoolKind::kMax>});
  r.add({"GlobalLpPool", "", 1, 0, cpu, fp32, "global_lppool_fp32", &make_global_pool<PoolKind::kLp>});
}

}  // namespace int8rt
