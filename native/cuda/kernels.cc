// Launch wrappers of the int8 CUDA kernels (see cuda/kernels.h).
#include "cuda/kernels.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace int8rt {
namespace cuda {

namespace {

constexpr int64_t kI32 = int64_t(1) << 31;  // exclusive bound of the kernels' 32-bit index math
constexpr unsigned kThreads = 256;          // every kernel here runs 256-thread blocks
constexpr int64_t kMaxGridY = 65535, kMaxGridZ = 65535, kMaxGridX = kI32 - 1;
constexpr int64_t kGridStrideBlocks = int64_t(1) << 20;  // cap of the grid-stride kernels' grids

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

Status invalid(const std::string& what) { return Status(ErrorCode::kInvalidArgument, "CUDA kernel launch: " + what); }
Status too_large(const std::string& what) {
  return Status(ErrorCode::kUnsupported, "CUDA kernel launch: " + what + " (beyond the kernels' 32-bit index range)");
}

Status launch_named(const Device& dev, CUstream stream, const char* name, int64_t gx, int64_t gy, int64_t gz,
                    void* params) {
  CUfunction fn = nullptr;
  INT8RT_RETURN_IF_ERROR(dev.function(name, &fn));
  void* args[] = {params};
  return dev.launch(fn, unsigned(gx), unsigned(gy), unsigned(gz), kThreads, 1, 1, 0, stream, args);
}

int64_t grid_stride_blocks(int64_t total) {
  return std::max<int64_t>(1, std::min(ceil_div(total, kThreads), kGridStrideBlocks));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// GEMM

const char* qgemm_kernel_name(QGemmPath path, bool im2col) {
  if (path == QGemmPath::kImma) return im2col ? "qgemm_s8_imma_128x128_im2col" : "qgemm_s8_imma_128x128";
  return im2col ? "qgemm_s8_dp4a_64x64_im2col" : "qgemm_s8_dp4a_64x64";
}

QGemmPath default_qgemm_path(const DeviceInfo& device) {
  return device.cc_major * 10 + device.cc_minor >= 75 ? QGemmPath::kImma : QGemmPath::kDp4a;
}

int64_t qgemm_packed_lda(int64_t K) { return std::max<int64_t>(64, ceil_div(std::max<int64_t>(K, 0), 64) * 64); }

std::vector<int8_t> pack_qgemm_a(const int8_t* A, int64_t lda, int64_t rows, int64_t K) {
  const int64_t plda = qgemm_packed_lda(K);
  std::vector<int8_t> out(size_t(std::max<int64_t>(rows, 0) * plda), int8_t(0));
  for (int64_t m = 0; m < rows; m++)
    if (K > 0) std::memcpy(out.data() + m * plda, A + m * lda, size_t(K));
  return out;
}

QGemmParams qgemm_params(int64_t M, int64_t N, int64_t K) {
  QGemmParams p;
  std::memset(&p, 0, sizeof(p));
  p.M = M;
  p.N = N;
  p.K = K;
  p.lda = qgemm_packed_lda(K);
  p.ldb = N;
  p.ldc = N;
  p.ldr = N;
  p.a_group_stride = M * p.lda;
  p.batch = 1;
  p.groups = 1;
  p.out_kind = cuda_kernels::kQGemmOutS8;
  p.IH = p.IW = p.OH = p.OW = 1;
  p.kh = p.kw = p.sh = p.sw = p.dh = p.dw = 1;
  p.lo = -128.f;
  p.hi = 127.f;
  return p;
}

int64_t Conv2dShape::OH() const { return (H + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
int64_t Conv2dShape::OW() const { return (W + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }

Status conv2d_qgemm_params(const Conv2dShape& s, QGemmParams* p) {
  if (s.batch < 0 || s.C < 1 || s.H < 1 || s.W < 1 || s.M < 1 || s.group < 1 || s.kh < 1 || s.kw < 1 || s.sh < 1 ||
      s.sw < 1 || s.dh < 1 || s.dw < 1 || s.pt < 0 || s.pl < 0 || s.pb < 0 || s.pr < 0)
    return invalid("conv2d: sizes, kernel, strides and dilations must be positive, pads non-negative");
  if (s.C % s.group != 0 || s.M % s.group != 0)
    return invalid("conv2d: C (" + std::to_string(s.C) + ") and M (" + std::to_string(s.M) +
                   ") must be multiples of group " + std::to_string(s.group));
  if (s.H + s.pt + s.pb < (s.kh - 1) * s.dh + 1 || s.W + s.pl + s.pr < (s.kw - 1) * s.dw + 1)
    return invalid("conv2d: the dilated kernel is larger than the padded input");
  const int64_t OH = s.OH(), OW = s.OW(), Cg = s.C / s.group, Mg = s.M / s.group, P = OH * OW;
  *p = qgemm_params(Mg, P, Cg * s.kh * s.kw);
  p->batch = int(std::min<int64_t>(s.batch, kI32 - 1));
  p->groups = int(std::min<int64_t>(s.group, kI32 - 1));
  p->a_group_stride = Mg * p->lda;
  p->b_batch_stride = s.C * s.H * s.W;
  p->b_group_stride = Cg * s.H * s.W;
  p->ldc = p->ldr = P;
  p->c_batch_stride = p->r_batch_stride = s.M * P;
  p->c_group_stride = p->r_group_stride = Mg * P;
  const bool pointwise = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && s.pb == 0 &&
                         s.pr == 0;
  const bool fits = s.H < kI32 && s.W < kI32 && OH < kI32 && OW < kI32 && s.kh < kI32 && s.kw < kI32 &&
                    s.sh < kI32 && s.sw < kI32 && s.dh < kI32 && s.dw < kI32 && s.pt < kI32 && s.pl < kI32;
  if (!fits) return too_large("conv2d geometry");
  p->IH = int(s.H);
  p->IW = int(s.W);
  p->OH = int(OH);
  p->OW = int(OW);
  p->kh = int(s.kh);
  p->kw = int(s.kw);
  p->sh = int(s.sh);
  p->sw = int(s.sw);
  p->dh = int(s.dh);
  p->dw = int(s.dw);
  p->pt = int(s.pt);
  p->pl = int(s.pl);
  if (pointwise) {
    p->conv = 0;
    p->ldb = s.H * s.W;  // B_g = the group's C/g input planes, [C/g, H*W]
  } else {
    p->conv = 1;
    p->ldb = 0;
  }
  return Status::OK();
}

void set_s8_bounds(int32_t qmin, int32_t qmax, QGemmParams* p) {
  p->lo = float(qmin < -128 ? -128 : qmin > 127 ? 127 : qmin);
  p->hi = float(qmax < -128 ? -128 : qmax > 127 ? 127 : qmax);
}

Status launch_qgemm(const Device& dev, CUstream stream, const QGemmParams& p, QGemmPath path) {
  const int64_t BM = path == QGemmPath::kImma ? 128 : 64, BN = path == QGemmPath::kImma ? 128 : 64;
  if (p.M < 0 || p.N < 0 || p.K < 0 || p.batch < 0 || p.groups < 0) return invalid("qgemm: negative size");
  if (p.out_kind != cuda_kernels::kQGemmOutS8 && p.out_kind != cuda_kernels::kQGemmOutF32 &&
      p.out_kind != cuda_kernels::kQGemmOutS32)
    return invalid("qgemm: unknown output kind " + std::to_string(p.out_kind));
  const int64_t problems = int64_t(p.batch) * int64_t(p.groups);
  if (p.M == 0 || p.N == 0 || problems == 0) return Status::OK();
  if (!p.c) return invalid("qgemm: no output buffer");
  if (p.out_kind != cuda_kernels::kQGemmOutS32 && !p.multiplier)
    return invalid("qgemm: the requantization multipliers are required");
  if (p.K > 0 && (!p.a || !p.b)) return invalid("qgemm: no A or B buffer");
  if (p.lda < p.K || p.lda % 64 != 0 || p.a % 16 != 0 || p.a_group_stride % 16 != 0)
    return invalid("qgemm: A must be packed by pack_qgemm_a (lda a multiple of 64, 16-byte aligned)");
  if (p.ldc < p.N || (p.residual && p.ldr < p.N)) return invalid("qgemm: ldc / ldr smaller than N");
  // K < 2^24 keeps every k (and 64 * lda) inside the kernels' int32 arithmetic; int8 sums are exact only for
  // K < 2^17 anyway.
  if (p.M >= kI32 || p.N >= kI32 || p.K >= (int64_t(1) << 24)) return too_large("qgemm: M, N or K");
  if (ceil_div(p.M, BM) > kMaxGridY || problems > kMaxGridZ || ceil_div(p.N, BN) > kMaxGridX)
    return too_large("qgemm: grid");
  if (p.conv) {
    if (p.IH < 1 || p.IW < 1 || p.OH < 1 || p.OW < 1 || p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1 || p.dh < 1 ||
        p.dw < 1 || p.pt < 0 || p.pl < 0)
      return invalid("qgemm: bad convolution geometry");
    const int64_t taps = int64_t(p.kh) * p.kw;
    if (int64_t(p.OH) * p.OW != p.N || p.K % taps != 0)
      return invalid("qgemm: N must be OH * OW and K a multiple of kh * kw");
    const int64_t channels = p.K / taps;
    // Offsets inside one image (channel planes, padded row products) and tap coordinates must fit int32; rows and
    // columns are marked invalid with -2^30 (common.cuh), so coordinates must stay below 2^30 in magnitude.
    const int64_t ph = int64_t(p.OH - 1) * p.sh + int64_t(p.kh - 1) * p.dh + 1;  // padded extent actually read
    const int64_t pw = int64_t(p.OW - 1) * p.sw + int64_t(p.kw - 1) * p.dw + 1;
    const int64_t span_h = std::max<int64_t>(ph, int64_t(p.IH) + p.pt) + 1;
    const int64_t span_w = std::max<int64_t>(pw, int64_t(p.IW) + p.pl) + 1;
    // (A row's table offset c*IH*IW + dy*IW + dx and a column's base iy0*IW + ix0 are each below the image size plus
    // span_h * span_w in magnitude.)
    if (span_h >= (int64_t(1) << 30) || span_w >= (int64_t(1) << 30) ||
        channels * p.IH * p.IW + span_h * span_w >= kI32)
      return too_large("qgemm: convolution image");
  } else {
    if (p.ldb < p.N) return invalid("qgemm: ldb smaller than N");
    if (p.K * p.ldb + p.N >= kI32) return too_large("qgemm: B matrix");
  }
  QGemmParams copy = p;
  return launch_named(dev, stream, qgemm_kernel_name(path, p.conv != 0), ceil_div(p.N, BN), ceil_div(p.M, BM),
                      problems, &copy);
}

// ---------------------------------------------------------------------------------------------------------------
// Depthwise

Status launch_dwconv_s8(const Device& dev, CUstream stream, const DwConvParams& p) {
  if (p.batch < 0 || p.C < 0 || p.OH < 0 || p.OW < 0) return invalid("dwconv: negative size");
  const int64_t total = int64_t(p.batch) * p.C * p.OH * p.OW;
  if (total == 0) return Status::OK();
  if (!p.x || !p.w || !p.multiplier || !p.y) return invalid("dwconv: missing buffer");
  if (p.H < 1 || p.W < 1 || p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1 || p.pt < 0 ||
      p.pl < 0)
    return invalid("dwconv: bad geometry");
  if (int64_t(p.OH) * p.OW >= kI32 || int64_t(p.OH) * p.sh + int64_t(p.kh) * p.dh >= kI32 ||
      int64_t(p.OW) * p.sw + int64_t(p.kw) * p.dw >= kI32 || int64_t(p.C) * p.kh * p.kw >= kI32)
    return too_large("dwconv geometry");
  DwConvParams copy = p;
  return launch_named(dev, stream, "dwconv_s8_direct", grid_stride_blocks(total), 1, 1, &copy);
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise

const char* eltwise_kernel_name(EltwiseOp op) {
  switch (op) {
    case EltwiseOp::kAdd: return "eltwise_add_s8";
    case EltwiseOp::kMul: return "eltwise_mul_s8";
    case EltwiseOp::kRescale: return "eltwise_rescale_s8";
    case EltwiseOp::kClamp: return "eltwise_clamp_s8";
    case EltwiseOp::kLookup: return "eltwise_lookup_s8";
    case EltwiseOp::kQuantize: return "quantize_f32_s8";
    case EltwiseOp::kDequantize: return "dequantize_s8_f32";
  }
  return "?";
}

Status eltwise_broadcast(const std::vector<int64_t>& y, const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                         EltwiseParams* p) {
  if (y.size() > size_t(cuda_kernels::kEltwiseMaxRank)) return too_large("eltwise: more than 6 output dimensions");
  if (a.size() > y.size() || b.size() > y.size())
    return invalid("eltwise: an input has more dimensions than the output");
  int64_t n = 1;
  for (int64_t d : y) {
    if (d < 0) return invalid("eltwise: negative dimension");
    n *= d;
  }
  auto numel = [](const std::vector<int64_t>& v) {
    int64_t k = 1;
    for (int64_t d : v) k *= d;
    return k;
  };
  // Strides of an input against y (0 on broadcast axes); false when a dimension neither matches nor is 1.
  auto strides = [&](const std::vector<int64_t>& in, long long* out) {
    const size_t off = y.size() - in.size();
    int64_t stride = 1;
    for (size_t i = y.size(); i-- > 0;) {
      const int64_t d = i >= off ? in[i - off] : 1;
      if (d != y[i] && d != 1) return false;
      out[i] = d == 1 ? 0 : stride;
      stride *= d;
    }
    return true;
  };
  p->n = n;
  p->rank = int(y.size());
  for (size_t i = 0; i < y.size(); i++) p->dims[i] = y[i];
  if (!strides(a, p->a_strides) || !strides(b, p->b_strides))
    return invalid("eltwise: input dimensions do not broadcast to the output");
  const int64_t na = numel(a), nb = numel(b);
  if ((na == n || na == 1) && (nb == n || nb == 1)) {  // flat: each input is the whole output or one value
    p->rank = 0;
    p->a_step = na == n && n != 1 ? 1 : 0;
    p->b_step = nb == n && n != 1 ? 1 : 0;
  }
  return Status::OK();
}

Status launch_eltwise(const Device& dev, CUstream stream, EltwiseOp op, const EltwiseParams& p) {
  if (p.n < 0 || p.rank < 0 || p.rank > cuda_kernels::kEltwiseMaxRank) return invalid("eltwise: bad size or rank");
  if (p.n == 0) return Status::OK();
  if (!p.a || !p.y) return invalid("eltwise: missing buffer");
  if ((op == EltwiseOp::kAdd || op == EltwiseOp::kMul) && !p.b) return invalid("eltwise: missing second input");
  if (op == EltwiseOp::kLookup && !p.table) return invalid("eltwise: missing lookup table");
  if (p.rank == 0 && (p.a_step < 0 || p.a_step > 1 || p.b_step < 0 || p.b_step > 1))
    return invalid("eltwise: flat steps must be 0 or 1");
  EltwiseParams copy = p;
  return launch_named(dev, stream, eltwise_kernel_name(op), grid_stride_blocks(p.n), 1, 1, &copy);
}

// ---------------------------------------------------------------------------------------------------------------
// Pooling

Status launch_pool(const Device& dev, CUstream stream, PoolOp op, const PoolParams& p) {
  if (p.planes < 0 || p.OH < 0 || p.OW < 0) return invalid("pool: negative size");
  const int64_t total = p.planes * p.OH * p.OW;
  if (total == 0) return Status::OK();
  if (!p.x || !p.y) return invalid("pool: missing buffer");
  if (p.H < 1 || p.W < 1 || p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1 || p.pt < 0 ||
      p.pl < 0 || p.pb < 0 || p.pr < 0)
    return invalid("pool: bad geometry");
  if (int64_t(p.OH) * p.OW >= kI32 || int64_t(p.OH) * p.sh + int64_t(p.kh) * p.dh + p.H + p.pb >= kI32 ||
      int64_t(p.OW) * p.sw + int64_t(p.kw) * p.dw + p.W + p.pr >= kI32 || int64_t(p.kh) * p.kw >= kI32 / 128)
    return too_large("pool geometry");
  PoolParams copy = p;
  return launch_named(dev, stream, op == PoolOp::kMax ? "maxpool_s8" : "avgpool_s8", grid_stride_blocks(total), 1, 1,
                      &copy);
}

Status launch_global_pool(const Device& dev, CUstream stream, PoolOp op, const GlobalPoolParams& p) {
  if (p.planes < 0 || p.size < 0) return invalid("global pool: negative size");
  if (p.planes == 0) return Status::OK();
  if (p.size == 0) return invalid("global pool: empty planes");
  if (!p.x || !p.y) return invalid("global pool: missing buffer");
  if (p.planes > kMaxGridX) return too_large("global pool: planes");
  GlobalPoolParams copy = p;
  return launch_named(dev, stream, op == PoolOp::kMax ? "global_maxpool_s8" : "global_avgpool_s8", p.planes, 1, 1,
                      &copy);
}

float global_avgpool_multiplier(float s_x, float s_y, int64_t size) { return s_x / (float(size) * s_y); }

// ---------------------------------------------------------------------------------------------------------------
// Data movement

const char* gather_axes_kernel_name(int elem_bytes, bool rescale) {
  if (rescale) return elem_bytes == 1 ? "gather_axes_rescale_s8" : "?";
  switch (elem_bytes) {
    case 1: return "gather_axes_b1";
    case 2: return "gather_axes_b2";
    case 4: return "gather_axes_b4";
    case 8: return "gather_axes_b8";
  }
  return "?";
}

Status launch_gather_axes(const Device& dev, CUstream stream, int elem_bytes, bool rescale, const GatherAxesParams& p) {
  if (p.n < 0 || p.rank < 1 || p.rank > cuda_kernels::kGatherMaxRank) return invalid("gather_axes: bad size or rank");
  if (!(elem_bytes == 1 || elem_bytes == 2 || elem_bytes == 4 || elem_bytes == 8) || (rescale && elem_bytes != 1))
    return invalid("gather_axes: elements of " + std::to_string(elem_bytes) + " bytes" +
                   (rescale ? " cannot be requantized" : " are not supported"));
  if (p.n == 0) return Status::OK();
  if (!p.x || !p.y || !p.tables) return invalid("gather_axes: missing buffer");
  int64_t n = 1;
  for (int d = 0; d < p.rank; d++) {
    if (p.dims[d] < 1 || p.table_offsets[d] < 0) return invalid("gather_axes: dims must be positive");
    n *= p.dims[d];
  }
  if (n != p.n) return invalid("gather_axes: n is not the product of dims");
  if (p.x % unsigned(elem_bytes) != 0 || p.y % unsigned(elem_bytes) != 0 || p.tables % 8 != 0)
    return invalid("gather_axes: x, y or tables misaligned");
  GatherAxesParams copy = p;
  return launch_named(dev, stream, gather_axes_kernel_name(elem_bytes, rescale), grid_stride_blocks(p.n), 1, 1, &copy);
}

// ---------------------------------------------------------------------------------------------------------------
// Float32

Status eltwise_f32_broadcast(const std::vector<int64_t>& y, const std::vector<int64_t>& a,
                             const std::vector<int64_t>& b, EltwiseF32Params* p) {
  EltwiseParams e{};
  INT8RT_RETURN_IF_ERROR(eltwise_broadcast(y, a, b, &e));
  p->n = e.n;
  p->rank = e.rank;
  p->a_step = e.a_step;
  p->b_step = e.b_step;
  for (int d = 0; d < cuda_kernels::kEltwiseMaxRank; d++) {
    p->dims[d] = e.dims[d];
    p->a_strides[d] = e.a_strides[d];
    p->b_strides[d] = e.b_strides[d];
  }
  return Status::OK();
}

Status launch_eltwise_f32(const Device& dev, CUstream stream, const EltwiseF32Params& p) {
  if (p.n < 0 || p.rank < 0 || p.rank > cuda_kernels::kEltwiseMaxRank) return invalid("eltwise f32: bad size or rank");
  if (p.n == 0) return Status::OK();
  const bool binary = p.op >= cuda_kernels::kF32Add && p.op <= cuda_kernels::kF32Pow;
  const bool unary = p.op >= cuda_kernels::kF32Relu && p.op <= cuda_kernels::kF32Cube;
  if (!binary && !unary) return invalid("eltwise f32: unknown operation " + std::to_string(p.op));
  if (!p.a || !p.y || (binary && !p.b)) return invalid("eltwise f32: missing buffer");
  if (p.rank == 0 && (p.a_step < 0 || p.a_step > 1 || p.b_step < 0 || p.b_step > 1))
    return invalid("eltwise f32: flat steps must be 0 or 1");
  if (p.a % 4 != 0 || p.b % 4 != 0 || p.y % 4 != 0) return invalid("eltwise f32: misaligned operand");
  EltwiseF32Params copy = p;
  return launch_named(dev, stream, binary ? "eltwise_binary_f32" : "eltwise_unary_f32", grid_stride_blocks(p.n), 1,
                      1, &copy);
}

Status launch_rows_f32(const Device& dev, CUstream stream, bool softmax, const RowsF32Params& p) {
  if (p.rows < 0 || p.cols < 0) return invalid("rows f32: negative size");
  if (p.rows == 0) return Status::OK();
  if (p.cols == 0 && softmax) return invalid("rows f32: empty softmax rows");
  if (!softmax && (p.op < cuda_kernels::kRowsSum || p.op > cuda_kernels::kRowsMax))
    return invalid("rows f32: unknown reduction " + std::to_string(p.op));
  if (!p.x || !p.y) return invalid("rows f32: missing buffer");
  if (p.x % 4 != 0 || p.y % 4 != 0) return invalid("rows f32: misaligned operand");
  if (p.rows > kMaxGridX) return too_large("rows f32: rows");
  RowsF32Params copy = p;
  return launch_named(dev, stream, softmax ? "softmax_rows_f32" : "reduce_rows_f32", p.rows, 1, 1, &copy);
}

Status launch_gemm_f32(const Device& dev, CUstream stream, const GemmF32Params& p) {
  if (p.M < 0 || p.N < 0 || p.K < 0 || p.batch_rank < 0 || p.batch_rank > cuda_kernels::kGemmMaxBatchRank)
    return invalid("gemm f32: bad sizes or batch rank");
  int64_t batch = 1;
  for (int d = 0; d < p.batch_rank; d++) {
    if (p.batch_dims[d] < 0) return invalid("gemm f32: negative batch dimension");
    batch *= p.batch_dims[d];
  }
  if (p.M == 0 || p.N == 0 || batch == 0) return Status::OK();
  // K == 0 reads neither operand (C is the bias, or zeros): they may be absent.
  if (!p.c || (p.K > 0 && (!p.a || !p.b))) return invalid("gemm f32: missing buffer");
  if (p.a % 4 != 0 || p.b % 4 != 0 || p.c % 4 != 0 || p.bias % 4 != 0) return invalid("gemm f32: misaligned operand");
  if (p.lda < (p.trans_a ? p.M : p.K) || p.ldb < (p.trans_b ? p.K : p.N))
    return invalid("gemm f32: leading dimension smaller than a row");
  if (ceil_div(p.M, 16) > kMaxGridY) return too_large("gemm f32: M");
  if (ceil_div(p.N, 16) > kMaxGridX) return too_large("gemm f32: N");
  if (batch > kMaxGridZ) return too_large("gemm f32: batch");
  GemmF32Params copy = p;
  return launch_named(dev, stream, "gemm_f32_tiled_16x16", ceil_div(p.N, 16), ceil_div(p.M, 16), batch, &copy);
}

}  // namespace cuda
}  // namespace int8rt
