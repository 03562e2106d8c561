// The SGEMM engine: a cache-blocked packed GEMM in the BLIS/MLAS style.
//
//   for jc in N by NC          (B block: kc x NC, packed once per (jc, pc); lives in L2/L3)
//     for pc in K by KC        (K blocks; the first initialises C, the last applies the clamp)
//       for ic in M by MC      (A block: MC x kc, lives in L2)
//         block kernel:  for each NR-column B micro-panel (in L1), for each MR-row A micro-panel: MR x NR tile
//
// Packing layouts are documented in kernels/sgemm-internal.h; constant operands are packed once (pack_a/pack_b)
// and the per-call path then only packs the other operand. The ISA-specific code (kernels/x86 AVX2+FMA, kernels/ref
// portable; chosen at run time) is the block kernel, the packers and the matrix-vector primitives.
//
// Threads: each task owns a disjoint rectangle of C (a range of NR-column panels, or of MR-row panels when N is
// too narrow to share) and runs the whole loop nest on it with its own thread-local packing buffers, so tasks never
// synchronise. M == 1 and N == 1 take matrix-vector paths that read the matrix once without packing it.
#include "kernels/sgemm.h"

#include <algorithm>
#include <atomic>
#include <new>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/sgemm-internal.h"

namespace int8rt {

using sgemm_internal::Block;
using sgemm_internal::Kernels;
using sgemm_internal::kMR;
using sgemm_internal::kNR;
using sgemm_internal::WriteBack;

namespace {

// Blocking for cores with 32 KiB L1D and >= 512 KiB L2: a B micro-panel (KC x NR floats, 16 KiB) plus an A
// micro-panel (KC x MR, 6 KiB) fit L1; an A block (MC x KC, 144 KiB) fits L2.
constexpr int64_t kKcMax = 256;
constexpr int64_t kMcMax = 144;   // multiple of MR
constexpr int64_t kNcMax = 4080;  // multiple of NR
// Below this many multiply-adds a problem runs on the calling thread: waking a worker costs more than it saves.
constexpr double kMinParallelMacs = double(1 << 18);

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// K block size: blocks as equal as possible, none above kKcMax.
int64_t kc_for(int64_t K) {
  if (K <= kKcMax) return std::max<int64_t>(K, 1);
  return ceil_div(K, ceil_div(K, kKcMax));
}

// Splits [0, n) into steps of at most `max_step` that are multiples of `unit` and as equal as possible.
int64_t balanced_step(int64_t n, int64_t max_step, int64_t unit) {
  if (n <= max_step) return round_up(std::max<int64_t>(n, 1), unit);
  return round_up(ceil_div(n, ceil_div(n, max_step)), unit);
}

std::atomic<const Kernels*> g_kernels_override{nullptr};

const Kernels& kernels() {
  if (const Kernels* k = g_kernels_override.load(std::memory_order_relaxed)) return *k;
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return sgemm_internal::avx2_kernels();
#endif
#if defined(__aarch64__)
  if (use_neon()) return sgemm_internal::neon_kernels();
#endif
  return sgemm_internal::scalar_kernels();
}

// A growable 64-byte aligned float buffer, one per thread and purpose: packing needs no allocation per call once
// warm, and concurrent runs never share one.
class ThreadBuffer {
 public:
  ~ThreadBuffer() { release(); }
  float* get(size_t n) {
    if (n > cap_) {
      release();
      const size_t bytes = (std::max<size_t>(n, 16) * sizeof(float) + 63) / 64 * 64;
      p_ = static_cast<float*>(::operator new(bytes, std::align_val_t(64), std::nothrow));
      cap_ = p_ ? bytes / sizeof(float) : 0;
    }
    return p_;
  }

 private:
  void release() {
    if (p_) ::operator delete(p_, std::align_val_t(64));
    p_ = nullptr;
    cap_ = 0;
  }
  float* p_ = nullptr;
  size_t cap_ = 0;
};

thread_local ThreadBuffer tl_pack_a, tl_pack_b, tl_vec, tl_out;

void widen_half(const uint16_t* src, int64_t n, float* dst) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2() && cpu_features().f16c) {
    sgemm_internal::widen_half_f16c(src, n, dst);
    return;
  }
#endif
#if defined(__aarch64__)
  if (use_neon()) {
    sgemm_internal::widen_half_neon(src, n, dst);
    return;
  }
#endif
  sgemm_internal::widen_half_portable(src, n, dst);
}

// Element `i` of a packing, float or half.
template <typename Packed>
inline float packed_at(const Packed& p, size_t i) {
  return p.half ? half_to_float(p.half_data[i]) : p.data[i];
}

struct OperandA {
  const PackedA* packed = nullptr;
  const float* p = nullptr;
  int64_t ld = 0;
  bool trans = false;
};

struct OperandB {
  const PackedB* packed = nullptr;
  const float* p = nullptr;
  int64_t ld = 0;
  bool trans = false;
};

struct Problem {
  int64_t M = 0, N = 0, K = 0;
  OperandA a;
  OperandB b;
  float alpha = 1.f;  // folded into the packing of a raw A; only sgemm() has alpha != 1 and A is raw there
  float beta = 0.f;
  float* C = nullptr;
  int64_t ldc = 0;
  GemmEpilogue ep;
  bool clamp = false;
  int64_t kc = 1;
};

// C[m, n] from the raw product `acc` (before alpha) for the paths that do not go through the block kernels.
inline float finish(const Problem& P, int64_t m, int64_t n, float acc) {
  float v = P.alpha * acc;
  float* c = P.C + m * P.ldc + n;
  if (P.beta != 0.f) v += P.beta * *c;
  if (P.ep.bias_row) v += P.ep.bias_row[m];
  if (P.ep.bias_col) v += P.ep.bias_col[n];
  if (P.ep.residual) v += P.ep.residual[m * P.ep.ldr + n];
  if (P.clamp) v = std::min(std::max(v, P.ep.clip_min), P.ep.clip_max);
  return v;
}

// The oracle on a sub-rectangle: used only if a packing buffer cannot be allocated (never in practice), so that a
// failed allocation degrades speed, not correctness.
void fallback_range(const Problem& P, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  for (int64_t m = m0; m < m1; m++)
    for (int64_t n = n0; n < n1; n++) {
      float acc = 0.f;
      for (int64_t k = 0; k < P.K; k++) {
        float a, b;
        if (P.a.packed) {
          const int64_t pc = k / P.kc * P.kc, kcb = std::min(P.kc, P.K - pc);
          a = packed_at(*P.a.packed, size_t(pc * round_up(P.M, kMR) + (m / kMR) * kMR * kcb + (k - pc) * kMR + m % kMR));
        } else {
          a = P.a.trans ? P.a.p[k * P.a.ld + m] : P.a.p[m * P.a.ld + k];
        }
        if (P.b.packed) {
          const int64_t pc = k / P.kc * P.kc, kcb = std::min(P.kc, P.K - pc);
          b = packed_at(*P.b.packed, size_t(pc * round_up(P.N, kNR) + (n / kNR) * kNR * kcb + (k - pc) * kNR + n % kNR));
        } else {
          b = P.b.trans ? P.b.p[n * P.b.ld + k] : P.b.p[k * P.b.ld + n];
        }
        acc += a * b;
      }
      P.C[m * P.ldc + n] = finish(P, m, n, acc);
    }
}

// The loop nest on C[m0..m1) x [n0..n1); m0 is a multiple of MR and n0 of NR. A half-precision packing is widened
// block by block into the thread's packing buffer (the buffer a raw operand would be packed into), so the block
// kernels only ever see float panels.
void run_blocks(const Problem& P, const Kernels& kern, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t K = P.K, kc = P.kc;
  const int64_t Mp = round_up(P.M, kMR), Np = round_up(P.N, kNR);
  const int64_t mc_step = balanced_step(m1 - m0, kMcMax, kMR);
  const int64_t nc_step = balanced_step(n1 - n0, kNcMax, kNR);
  const bool a_half = P.a.packed && P.a.packed->half, b_half = P.b.packed && P.b.packed->half;
  const bool a_buf = !P.a.packed || a_half, b_buf = !P.b.packed || b_half;
  float* abuf = nullptr;
  float* bbuf = nullptr;
  if (a_buf) abuf = tl_pack_a.get(size_t(std::min(mc_step, round_up(m1 - m0, kMR)) * kc));
  if (b_buf) bbuf = tl_pack_b.get(size_t(std::min(nc_step, round_up(n1 - n0, kNR)) * kc));
  if ((a_buf && !abuf) || (b_buf && !bbuf)) {
    fallback_range(P, m0, m1, n0, n1);
    return;
  }
  Block blk;
  blk.ldc = P.ldc;
  blk.wb.beta = P.beta;
  blk.wb.ldr = P.ep.ldr;
  blk.wb.clamp = P.clamp;
  blk.wb.lo = P.ep.clip_min;
  blk.wb.hi = P.ep.clip_max;
  for (int64_t jc = n0; jc < n1; jc += nc_step) {
    const int64_t nc = std::min(nc_step, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kcb = std::min(kc, K - pc);
      const float* bblk;
      if (b_half) {
        widen_half(P.b.packed->half_data.data() + pc * Np + jc * kcb, round_up(nc, kNR) * kcb, bbuf);
        bblk = bbuf;
      } else if (P.b.packed) {
        bblk = P.b.packed->data.data() + pc * Np + jc * kcb;
      } else {
        kern.pack_b(P.b.p, P.b.ld, P.b.trans, jc, nc, pc, kcb, bbuf);
        bblk = bbuf;
      }
      for (int64_t ic = m0; ic < m1; ic += mc_step) {
        const int64_t mc = std::min(mc_step, m1 - ic);
        const float* ablk;
        if (a_half) {
          widen_half(P.a.packed->half_data.data() + pc * Mp + ic * kcb, round_up(mc, kMR) * kcb, abuf);
          ablk = abuf;
        } else if (P.a.packed) {
          ablk = P.a.packed->data.data() + pc * Mp + ic * kcb;
        } else {
          kern.pack_a(P.a.p, P.a.ld, P.a.trans, P.alpha, ic, mc, pc, kcb, abuf);
          ablk = abuf;
        }
        blk.mc = mc;
        blk.nc = nc;
        blk.kc = kcb;
        blk.a = ablk;
        blk.b = bblk;
        blk.c = P.C + ic * P.ldc + jc;
        blk.wb.first = pc == 0;
        blk.wb.last = pc + kcb >= K;
        blk.wb.bias_row = P.ep.bias_row ? P.ep.bias_row + ic : nullptr;
        blk.wb.bias_col = P.ep.bias_col ? P.ep.bias_col + jc : nullptr;
        blk.wb.residual = P.ep.residual ? P.ep.residual + ic * P.ep.ldr + jc : nullptr;
        kern.block(blk);
      }
    }
  }
}

int threads_for(const Problem& P, ThreadPool* pool) {
  if (!pool || pool->num_threads() <= 1) return 1;
  if (double(P.M) * double(P.N) * double(std::max<int64_t>(P.K, 1)) < kMinParallelMacs) return 1;
  return pool->num_threads();
}

// Runs fn(begin, end) over `tasks` equal shares of `units` units of `unit` elements each (the last one clipped to
// `total`), in parallel.
template <typename Fn>
void split(ThreadPool* pool, int tasks, int64_t units, int64_t unit, int64_t total, const Fn& fn) {
  tasks = int(std::min<int64_t>(tasks, units));
  if (tasks <= 1) {
    fn(int64_t(0), total);
    return;
  }
  pool->parallel_tasks(tasks, [&](int64_t t) {
    const int64_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
    const int64_t b = u0 * unit, e = std::min(total, u1 * unit);
    if (b < e) fn(b, e);
  });
}

// M == 1 (B not pre-packed) or N == 1: one pass over the matrix operand, no packing. Returns false when the shape
// is not one of these.
bool run_gemv(const Problem& P, const Kernels& kern, ThreadPool* pool) {
  const int64_t K = P.K;
  const bool row_vector = P.M == 1 && !P.b.packed;
  const bool col_vector = !row_vector && P.N == 1;
  if (!row_vector && !col_vector) return false;
  // A half-precision packed matrix operand goes through the block path, which widens it block by block.
  if (col_vector && P.a.packed && P.a.packed->half) return false;
  float* v = tl_vec.get(size_t(std::max<int64_t>(K, 1)));
  if (!v) return false;
  // The vector operand, contiguous.
  if (row_vector) {
    for (int64_t k = 0; k < K; k++)
      v[k] = P.a.packed ? packed_at(*P.a.packed, size_t(k * kMR)) : P.a.p[P.a.trans ? k * P.a.ld : k];
  } else {
    for (int64_t k = 0; k < K; k++)
      v[k] = P.b.packed ? packed_at(*P.b.packed, size_t(k * kNR)) : P.b.p[P.b.trans ? k : k * P.b.ld];
  }
  const int tasks = threads_for(P, pool);
  if (row_vector) {
    // y[n] = sum_k v[k] * op(B)[k, n]
    split(pool, tasks, ceil_div(P.N, 64), 64, P.N, [&](int64_t n0, int64_t n1) {
      float* y = tl_out.get(size_t(n1 - n0));
      if (!y) {
        fallback_range(P, 0, 1, n0, n1);
        return;
      }
      if (!P.b.trans) kern.gemv_rows(K, n1 - n0, v, P.b.p + n0, P.b.ld, y);
      else kern.gemv_dots(n1 - n0, K, P.b.p + n0 * P.b.ld, P.b.ld, v, y);
      for (int64_t n = n0; n < n1; n++) P.C[n] = finish(P, 0, n, y[n - n0]);
    });
  } else {
    // y[m] = sum_k op(A)[m, k] * v[k]; packed A is split on panel boundaries.
    split(pool, tasks, ceil_div(P.M, 8 * kMR), 8 * kMR, P.M, [&](int64_t m0, int64_t m1) {
      float* y = tl_out.get(size_t(m1 - m0));
      if (!y) {
        fallback_range(P, m0, m1, 0, 1);
        return;
      }
      if (P.a.packed) kern.gemv_panels(m0, m1, K, P.kc, round_up(P.M, kMR), P.a.packed->data.data(), v, y);
      else if (!P.a.trans) kern.gemv_dots(m1 - m0, K, P.a.p + m0 * P.a.ld, P.a.ld, v, y);
      else kern.gemv_rows(K, m1 - m0, v, P.a.p + m0, P.a.ld, y);
      for (int64_t m = m0; m < m1; m++) P.C[m * P.ldc] = finish(P, m, 0, y[m - m0]);
    });
  }
  return true;
}

void run(Problem& P, ThreadPool* pool) {
  if (P.M <= 0 || P.N <= 0 || P.K < 0) return;
  P.clamp = !(P.ep.clip_min == -INFINITY && P.ep.clip_max == INFINITY);
  if (P.K == 0) {  // no product: C = epilogue(beta * C)
    for (int64_t m = 0; m < P.M; m++)
      for (int64_t n = 0; n < P.N; n++) P.C[m * P.ldc + n] = finish(P, m, n, 0.f);
    return;
  }
  const Kernels& kern = kernels();
  if (run_gemv(P, kern, pool)) return;

  const int tasks = threads_for(P, pool);
  const int64_t mp = ceil_div(P.M, kMR), np = ceil_div(P.N, kNR);
  if (tasks <= 1) {
    run_blocks(P, kern, 0, P.M, 0, P.N);
  } else if (np >= 2 * tasks || np >= mp) {
    // Columns: each task packs (or reads) its own share of B, the larger operand in the common shapes.
    split(pool, tasks, np, kNR, P.N, [&](int64_t n0, int64_t n1) { run_blocks(P, kern, 0, P.M, n0, n1); });
  } else {
    split(pool, tasks, mp, kMR, P.M, [&](int64_t m0, int64_t m1) { run_blocks(P, kern, m0, m1, 0, P.N); });
  }
}

Status check_pack_args(const char* what, const float* X, int64_t ld, int64_t rows, int64_t cols, int64_t pad_rows,
                       int64_t K) {
  if (rows < 0 || cols < 0) return Status(ErrorCode::kInvalidArgument, std::string(what) + ": negative dimension");
  if (rows > 0 && cols > 0) {
    if (!X) return Status(ErrorCode::kInvalidArgument, std::string(what) + ": null matrix");
    if (ld < cols) return Status(ErrorCode::kInvalidArgument, std::string(what) + ": leading dimension too small");
  }
  if (double(pad_rows) * double(K) > double(kMaxElements))
    return Status(ErrorCode::kTooLarge, std::string(what) + ": matrix too large");
  return Status::OK();
}

}  // namespace

const char* sgemm_kernel_name() { return kernels().name; }

void sgemm_internal::set_kernels_for_testing(const Kernels* k) { g_kernels_override.store(k); }

void sgemm_internal::widen_half_portable(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool) {
  Problem P;
  P.M = M;
  P.N = N;
  P.K = K;
  P.a.p = A;
  P.a.ld = lda;
  P.a.trans = trans_a;
  P.b.p = B;
  P.b.ld = ldb;
  P.b.trans = trans_b;
  P.alpha = alpha;
  P.beta = beta;
  P.C = C;
  P.ldc = ldc;
  P.ep = ep;
  P.kc = kc_for(K);
  run(P, pool);
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, ThreadPool* pool) {
  sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, GemmEpilogue(), pool);
}

namespace {

// Packs K block by K block with `pack_block(pc, kcb, dst)` into `data` (rows_p = padded M or N), or, when half,
// into a float scratch of one K block that is then narrowed into `half_data`: the full float packing never exists.
template <typename PackBlock>
Status pack_blocks(int64_t rows_p, int64_t K, int64_t kc, bool half, const char* what, std::vector<float>* data,
                   std::vector<uint16_t>* half_data, const PackBlock& pack_block) {
  try {
    data->clear();
    half_data->clear();
    if (!half) {
      data->assign(size_t(rows_p * K), 0.f);
      for (int64_t pc = 0; pc < K; pc += kc) pack_block(pc, std::min(kc, K - pc), data->data() + pc * rows_p);
      return Status::OK();
    }
    half_data->assign(size_t(rows_p * K), 0);
    std::vector<float> block(size_t(rows_p * std::min(kc, K)), 0.f);
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kcb = std::min(kc, K - pc);
      pack_block(pc, kcb, block.data());
      uint16_t* dst = half_data->data() + pc * rows_p;
      for (int64_t i = 0; i < rows_p * kcb; i++) dst[i] = float_to_half(block[size_t(i)]);
    }
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kOutOfMemory, std::string(what) + ": out of memory");
  }
  return Status::OK();
}

// The element count a packing of `rows_p` x K holds, float or half.
template <typename Packed>
bool packing_size_ok(const Packed& p, int64_t rows_p, int64_t K) {
  return (p.half ? p.half_data.size() : p.data.size()) == size_t(rows_p * K);
}

}  // namespace

Status pack_a(const float* A, int64_t lda, bool trans_a, int64_t M, int64_t K, PackedA* out, bool half) {
  const int64_t Mp = round_up(std::max<int64_t>(M, 0), kMR);
  INT8RT_RETURN_IF_ERROR(check_pack_args("pack_a", A, lda, trans_a ? K : M, trans_a ? M : K, Mp, K));
  out->M = M;
  out->K = K;
  out->mr = kMR;
  out->isa = static_cast<int>(active_isa());
  out->kc = kc_for(K);
  out->half = half;
  const Kernels& kern = kernels();
  return pack_blocks(Mp, K, out->kc, half, "pack_a", &out->data, &out->half_data,
                     [&](int64_t pc, int64_t kcb, float* dst) { kern.pack_a(A, lda, trans_a, 1.f, 0, M, pc, kcb, dst); });
}

void sgemm_packed_a(const PackedA& A, int64_t N, const float* B, int64_t ldb, bool trans_b, float* C, int64_t ldc,
                    const GemmEpilogue& ep, ThreadPool* pool) {
  if (!packing_size_ok(A, round_up(A.M, kMR), A.K)) return;  // not made by pack_a
  Problem P;
  P.M = A.M;
  P.N = N;
  P.K = A.K;
  P.a.packed = &A;
  P.b.p = B;
  P.b.ld = ldb;
  P.b.trans = trans_b;
  P.C = C;
  P.ldc = ldc;
  P.ep = ep;
  P.kc = A.kc;
  run(P, pool);
}

Status pack_b(const float* B, int64_t ldb, bool trans_b, int64_t K, int64_t N, PackedB* out, bool half) {
  const int64_t Np = round_up(std::max<int64_t>(N, 0), kNR);
  INT8RT_RETURN_IF_ERROR(check_pack_args("pack_b", B, ldb, trans_b ? N : K, trans_b ? K : N, Np, K));
  out->K = K;
  out->N = N;
  out->nr = kNR;
  out->isa = static_cast<int>(active_isa());
  out->kc = kc_for(K);
  out->half = half;
  const Kernels& kern = kernels();
  return pack_blocks(Np, K, out->kc, half, "pack_b", &out->data, &out->half_data,
                     [&](int64_t pc, int64_t kcb, float* dst) { kern.pack_b(B, ldb, trans_b, 0, N, pc, kcb, dst); });
}

void sgemm_packed_b(int64_t M, const float* A, int64_t lda, bool trans_a, const PackedB& B, float* C, int64_t ldc,
                    const GemmEpilogue& ep, ThreadPool* pool) {
  if (!packing_size_ok(B, round_up(B.N, kNR), B.K)) return;  // not made by pack_b
  Problem P;
  P.M = M;
  P.N = B.N;
  P.K = B.K;
  P.a.p = A;
  P.a.ld = lda;
  P.a.trans = trans_a;
  P.b.packed = &B;
  P.C = C;
  P.ldc = ldc;
  P.ep = ep;
  P.kc = B.kc;
  run(P, pool);
}

}  // namespace int8rt
