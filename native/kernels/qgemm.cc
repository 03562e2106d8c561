// The int8 GEMM driver: dispatch to a kernel family, cache blocking, per-call packing of B, threading.
//
//   for jc in N by NC        (B block: all of K x NC, packed per call into a thread-local buffer; lives in L2)
//     for ic in M by MC      (A block: MC x K of the weights packed at build; lives in L2. A family whose tiles read
//                             int16 weights, AVX2, keeps them int8 at rest and widens the A block here into a
//                             per-thread buffer: once per B block, or once per call when one A block covers M)
//       block kernel:  for each 16-column B panel (in L1), for each MR-row A panel: MR x 16 tile over all of K,
//                      accumulators in registers, the epilogue fused into the write-back
//
// K is not blocked: a tile's int32 accumulators stay in registers from the first k to the epilogue, so no partial
// sums are stored. NC and MC are chosen from K so that the blocks fit L2 whatever K is.
//
// Threads: each task owns a disjoint rectangle of C (a range of 16-column panels, or of MR-row panels when N is too
// narrow to share) and runs the loop nest on it with its own packing buffer: tasks never synchronise.
//
// Convolutions (qgemm_s8_im2col) give B as an image and a QIm2col geometry instead of a matrix: each B block is
// packed straight from the image, by the family's fused packer (Kernels::pack_b_im2col) or else one 16-column
// panel at a time through a small im2col buffer and pack_b. The loop nest is the same.
//
// N == 1 (a fully connected layer on one sample) runs matrix-vector kernels where the family has them: the packed
// A is read once, one vector product per k group and row panel instead of a whole tile.
//
// Families and layouts: kernels/qgemm-internal.h. A packing (qpack_a) is made for the family chosen at that time and
// always runs with it.
#include "kernels/qgemm.h"

#include <algorithm>
#include <atomic>
#include <new>

#include "core/cpu_features.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/qgemm-internal.h"

namespace int8rt {

using qgemm_internal::Block;
using qgemm_internal::ceil_div;
using qgemm_internal::Elem;
using qgemm_internal::elem_bytes;
using qgemm_internal::Kernels;
using qgemm_internal::kNR;
using qgemm_internal::Output;
using qgemm_internal::OutKind;

namespace {

// Blocking for cores with >= 512 KiB of L2 (Zen 2-4, Skylake-SP and later, Alder Lake): a packed B block and an A
// block of about this size each, so both stay in L2 while the tiles run; a 16-column B panel (16 * K bytes, or
// 32 * K for the int16 family) then sits in L1 for K up to ~1-2 K.
constexpr int64_t kBBlockBytes = 192 * 1024;
constexpr int64_t kABlockBytes = 192 * 1024;
// Fewest columns of a B block for families that widen each A block (Kernels::widen_a), multiple of 16.
constexpr int64_t kWidenMinCols = 64;
// Below this many multiply-adds a problem runs on the calling thread: waking a worker costs more than it saves.
constexpr double kMinParallelMacs = double(1 << 18);

int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Splits [0, n) into steps of at most `max_step` that are multiples of `unit` and as equal as possible.
int64_t balanced_step(int64_t n, int64_t max_step, int64_t unit) {
  if (n <= max_step) return round_up(std::max<int64_t>(n, 1), unit);
  return round_up(ceil_div(n, ceil_div(n, max_step)), unit);
}

std::atomic<const Kernels*> g_kernels_override{nullptr};
std::atomic<bool> g_force_fallback{false};

// The family qpack_a packs for.
const Kernels& pack_kernels() {
  if (const Kernels* k = g_kernels_override.load(std::memory_order_relaxed)) return *k;
#if defined(__x86_64__) || defined(_M_X64)
  if (use_vnni())
    return vnni_encoding() == VnniEncoding::kVex ? qgemm_internal::avxvnni_kernels()
                                                   : qgemm_internal::avx512vnni_kernels();
  if (use_avx2()) return qgemm_internal::avx2_kernels();
#endif
#if defined(__aarch64__)
  switch (active_isa()) {
    case Isa::kNeonI8mm: return qgemm_internal::i8mm_kernels();
    case Isa::kNeonDot: return qgemm_internal::neondot_kernels();
    case Isa::kNeon: return qgemm_internal::neon_kernels();
    default: break;
  }
#endif
  return qgemm_internal::scalar_kernels();
}

// A growable 64-byte aligned buffer, one per thread: packing needs no allocation per call once warm, and concurrent
// runs never share one.
class ThreadBuffer {
 public:
  ~ThreadBuffer() { release(); }
  void* get(size_t bytes) {
    if (bytes > cap_) {
      release();
      const size_t n = (std::max<size_t>(bytes, 64) + 63) / 64 * 64;
      p_ = ::operator new(n, std::align_val_t(64), std::nothrow);
      cap_ = p_ ? n : 0;
    }
    return p_;
  }

 private:
  void release() {
    if (p_) ::operator delete(p_, std::align_val_t(64));
    p_ = nullptr;
    cap_ = 0;
  }
  void* p_ = nullptr;
  size_t cap_ = 0;
};

thread_local ThreadBuffer tl_pack_b, tl_offsets, tl_column, tl_wide_a, tl_stage;

struct Problem {
  const QPackedA* A = nullptr;
  const Kernels* kern = nullptr;
  int64_t M = 0, N = 0, K = 0, kg = 0;
  const int8_t* B = nullptr;
  int64_t ldb = 0;
  const QIm2col* im2col = nullptr;  // B is this image's im2col matrix instead (B, ldb unused)
  const int32_t* bias = nullptr;
  Output out;
};

int8_t packed_a_value(const Problem& P, int64_t m, int64_t k) {
  const Kernels& f = *P.kern;
  const int64_t g = k / f.kgroup, e = k % f.kgroup, p = m / f.mr, r = m % f.mr;
  const int64_t at = p * f.mr * P.kg * f.kgroup + (g * f.mr + r) * f.kgroup + e;
  if (f.a_elem == Elem::kS16) return int8_t(reinterpret_cast<const int16_t*>(P.A->data.data())[at]);
  return P.A->data[size_t(at)];
}

// B[k, n], from the matrix or the image.
int8_t b_value(const Problem& P, int64_t k, int64_t n) {
  if (!P.im2col) return P.B[k * P.ldb + n];
  const QIm2col& s = *P.im2col;
  const int64_t taps = s.kh * s.kw, c = k / taps, ky = (k % taps) / s.kw, kx = k % s.kw;
  const int64_t oy = n / s.OW, ox = n % s.OW;
  const int64_t iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
  if (iy < 0 || iy >= s.IH || ix < 0 || ix >= s.IW) return 0;
  return s.img[(c * s.IH + iy) * s.IW + ix];
}

// Packs B block [n0, n0 + nc) into dst. An im2col B without a fused packer is built one 16-column panel at a time
// (all K rows x 16 bytes, in a per-thread buffer that stays in L1/L2) and packed with the family's pack_b, which
// writes that panel exactly where the whole block's packing puts it. False if that buffer cannot be allocated.
bool pack_block(const Problem& P, int64_t n0, int64_t nc, void* dst) {
  const Kernels& f = *P.kern;
  if (!P.im2col) {
    f.pack_b(P.B, P.ldb, P.K, n0, nc, dst);
    return true;
  }
  const QIm2col& s = *P.im2col;
  if (f.pack_b_im2col) {
    f.pack_b_im2col(s, n0, nc, dst);
    return true;
  }
  int8_t* stage = static_cast<int8_t*>(tl_stage.get(size_t(std::max<int64_t>(P.K, 1)) * kNR));
  if (!stage) return false;
  qgemm_internal::Im2colTaps taps;
  qgemm_internal::im2col_taps(s, &taps);
  qgemm_internal::Im2colSeg seg[kNR];
  const int64_t panel_bytes = int64_t(kNR) * P.kg * f.kgroup * elem_bytes(f.b_elem);
  for (int64_t q = 0; q * kNR < nc; q++) {
    const int vc = int(std::min<int64_t>(kNR, nc - q * kNR));
    const int nseg = qgemm_internal::im2col_segments(s, n0 + q * kNR, vc, seg);
    for (int64_t k = 0; k < P.K; k++) {
      const int64_t taps_n = s.kh * s.kw;
      qgemm_internal::im2col_panel_row(s, taps, seg, nseg, k / taps_n, (k % taps_n) / s.kw, k % s.kw,
                                       stage + k * kNR);
    }
    f.pack_b(stage, kNR, P.K, 0, vc, static_cast<uint8_t*>(dst) + q * panel_bytes);
  }
  return true;
}

// Scalar loops over the packed A: used only if a packing buffer cannot be allocated (never in practice), so that
// a failed allocation costs speed, not correctness.
void fallback_range(const Problem& P, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const Output& o = P.out;
  for (int64_t m = m0; m < m1; m++)
    for (int64_t n = n0; n < n1; n++) {
      uint32_t acc = 0;
      for (int64_t k = 0; k < P.K; k++)
        acc += uint32_t(int32_t(packed_a_value(P, m, k)) * int32_t(b_value(P, k, n)));
      if (o.kind == OutKind::kS32) {
        static_cast<int32_t*>(o.c)[m * o.ldc + n] = int32_t(acc);  // no bias in the int32 output
        continue;
      }
      // The offset's row-sum term only undoes the shift of the packed B, which this loop does not read.
      const float v = qgemm_internal::epilogue_value(int32_t(acc), P.bias ? P.bias[m] : 0, o.multiplier[m],
                                                     o.residual ? o.residual + m * o.ldr + n : nullptr,
                                                     o.residual_multiplier);
      if (o.kind == OutKind::kS8)
        static_cast<int8_t*>(o.c)[m * o.ldc + n] = qgemm_internal::epilogue_s8(v, o.lo, o.hi);
      else
        static_cast<float*>(o.c)[m * o.ldc + n] = qgemm_internal::epilogue_f32(v, o.lo, o.hi);
    }
}

// The loop nest on C[m0..m1) x [n0..n1); m0 is a multiple of MR and n0 of 16.
void run_blocks(const Problem& P, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const Kernels& f = *P.kern;
  const int64_t group_bytes_b = int64_t(f.kgroup) * elem_bytes(f.b_elem);
  const int64_t group_bytes_a = int64_t(f.kgroup) * elem_bytes(f.a_elem);  // as stored
  const int64_t group_bytes_ak = f.widen_a ? int64_t(f.kgroup) * 2 : group_bytes_a;  // as the block kernel reads it
  const int64_t kg = std::max<int64_t>(P.kg, 1);
  int64_t nc_max = std::max<int64_t>(kNR, kBBlockBytes / (kg * group_bytes_b) / kNR * kNR);
  // Each widening of an A block is paid for by the nc columns of one B block: at least kWidenMinCols of them, as with
  // a large K the L2-sized B block holds only one or two 16-column panels (K = 4608: the widening then cost ~15% of
  // the time of a 512 x 49 layer, ~8% with 64 columns). The block kernel streams the B block one panel at a time, so
  // the cache needs only that panel and the A block.
  if (f.widen_a) nc_max = std::max(nc_max, kWidenMinCols);
  const int64_t mc_max = std::max<int64_t>(f.mr, kABlockBytes / (kg * group_bytes_ak) / f.mr * f.mr);
  const int64_t nc_step = balanced_step(n1 - n0, nc_max, kNR);
  const int64_t mc_step = balanced_step(m1 - m0, mc_max, f.mr);
  const int64_t b_bytes =
      qgemm_internal::packed_b_elems(std::min(nc_step, n1 - n0), P.kg, f.kgroup) * elem_bytes(f.b_elem);
  const bool fail = g_force_fallback.load(std::memory_order_relaxed);
  void* bbuf = fail ? nullptr : tl_pack_b.get(size_t(b_bytes));
  // Elements of the largest A block (whole MR-row panels, all k groups), and its int16 copy for widen_a.
  const int64_t a_elems = round_up(std::min(mc_step, m1 - m0), f.mr) * P.kg * f.kgroup;
  int16_t* wide = nullptr;
  if (f.widen_a && !fail) wide = static_cast<int16_t*>(tl_wide_a.get(size_t(std::max<int64_t>(a_elems, 1)) * 2));
  if (!bbuf || (f.widen_a && !wide)) {
    fallback_range(P, m0, m1, n0, n1);
    return;
  }
  Block blk;
  blk.kg = P.kg;
  blk.b = bbuf;
  blk.out = &P.out;
  const int8_t* a = P.A->data.data();
  // A block ic for the block kernel: the packed panels, or their int16 copy. With one A block (M within the block
  // size, the common case) it is widened once for all the column blocks.
  const bool one_a_block = mc_step >= m1 - m0;
  const auto a_block = [&](int64_t ic, int64_t mc) -> const void* {
    const int8_t* src = a + ic * P.kg * group_bytes_a;  // panel ic / MR
    if (!wide) return src;
    f.widen_a(src, round_up(mc, f.mr) * P.kg * f.kgroup, wide);
    return wide;
  };
  const void* a0 = one_a_block ? a_block(m0, m1 - m0) : nullptr;
  for (int64_t jc = n0; jc < n1; jc += nc_step) {
    const int64_t nc = std::min(nc_step, n1 - jc);
    if (!pack_block(P, jc, nc, bbuf)) {
      fallback_range(P, m0, m1, jc, n1);
      return;
    }
    for (int64_t ic = m0; ic < m1; ic += mc_step) {
      blk.m0 = ic;
      blk.mc = std::min(mc_step, m1 - ic);
      blk.n0 = jc;
      blk.nc = nc;
      blk.a = one_a_block ? a0 : a_block(ic, blk.mc);
      f.block(blk);
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

// Checks the operands and fills P; false when there is nothing to do or the arguments are unusable (a packing not
// made by qpack_a, a null or too narrow matrix): then nothing is written.
bool setup(const QPackedA& A, int64_t N, const int8_t* B, int64_t ldb, void* C, int64_t ldc, Problem* P) {
  const Kernels* f = qgemm_internal::kernels_by_id(A.isa);
  if (!f || A.M <= 0 || N <= 0 || A.K < 0 || !C || ldc < N) return false;
  const int64_t kg = ceil_div(A.K, f->kgroup);
  const int64_t bytes = round_up(A.M, f->mr) * kg * f->kgroup * elem_bytes(f->a_elem) + qgemm_internal::kAPadBytes;
  if (A.data.size() != size_t(bytes) || A.row_sums.size() != size_t(A.M)) return false;
  if (A.K > 0 && (!B || ldb < N)) return false;
  P->A = &A;
  P->kern = f;
  P->M = A.M;
  P->N = N;
  P->K = A.K;
  P->kg = kg;
  P->B = B;
  P->ldb = ldb;
  P->out.c = C;
  P->out.ldc = ldc;
  return true;
}

// setup() for an im2col B: the descriptor must describe A.K rows and a non-empty output.
bool setup_im2col(const QPackedA& A, const QIm2col& s, void* C, int64_t ldc, Problem* P) {
  const int64_t lim = int64_t(1) << 31;
  for (int64_t v : {s.IH, s.IW, s.OH, s.OW, s.kh, s.kw, s.sh, s.sw, s.dh, s.dw})
    if (v < 1 || v >= lim) return false;
  if (s.C < 0 || s.C >= lim || s.pt < 0 || s.pl < 0 || s.pt >= lim || s.pl >= lim) return false;
  if (double(s.C) * double(s.kh) * double(s.kw) != double(A.K) || (A.K > 0 && !s.img)) return false;
  const int64_t N = s.OH * s.OW;
  // setup() wants a B; the im2col one has no leading dimension, so it is given as an N-wide matrix.
  static const int8_t dummy = 0;
  if (!setup(A, N, &dummy, N, C, ldc, P)) return false;
  P->B = nullptr;
  P->ldb = 0;
  P->im2col = &s;
  return true;
}

// Per-row offsets of the accumulators: bias[m] - 128 * row_sums[m] (shifted families), in wrapping int32. In a
// buffer of the calling thread, which outlives the parallel section. False if it cannot be allocated.
bool set_offsets(const int32_t* bias, Problem* P) {
  P->bias = bias;
  const bool shifted = P->kern->b_elem == Elem::kU8Shifted;
  if (!shifted) {
    P->out.offset = bias;
    return true;
  }
  int32_t* off = static_cast<int32_t*>(tl_offsets.get(size_t(P->M) * sizeof(int32_t)));
  if (!off) return false;
  const int32_t* rs = P->A->row_sums.data();
  for (int64_t m = 0; m < P->M; m++)
    off[m] = int32_t((bias ? uint32_t(bias[m]) : 0u) - uint32_t(rs[m]) * 128u);
  P->out.offset = off;
  return true;
}

// N == 1: the column is packed once (by the calling thread, into its buffer) and the row panels are shared out.
// Returns false when the family has no matrix-vector kernel.
bool run_gemv(const Problem& P, ThreadPool* pool) {
  const Kernels& f = *P.kern;
  if (P.N != 1 || !f.gemv) return false;
  void* col = g_force_fallback.load(std::memory_order_relaxed)
                  ? nullptr
                  : tl_column.get(size_t(qgemm_internal::packed_b_elems(1, P.kg, f.kgroup) * elem_bytes(f.b_elem)));
  if (!col || !pack_block(P, 0, 1, col)) return false;  // the block path then falls back too
  const int64_t group_bytes_a = int64_t(f.kgroup) * elem_bytes(f.a_elem);
  split(pool, threads_for(P, pool), ceil_div(P.M, f.mr), f.mr, P.M, [&](int64_t m0, int64_t m1) {
    Block blk;
    blk.m0 = m0;
    blk.mc = m1 - m0;
    blk.nc = 1;
    blk.kg = P.kg;
    blk.a = P.A->data.data() + m0 * P.kg * group_bytes_a;
    blk.b = col;
    blk.out = &P.out;
    f.gemv(blk);
  });
  return true;
}

void run(const Problem& P, ThreadPool* pool) {
  if (run_gemv(P, pool)) return;
  const int tasks = threads_for(P, pool);
  const int mr = P.kern->mr;
  const int64_t mp = ceil_div(P.M, mr), np = ceil_div(P.N, kNR);
  if (tasks <= 1) {
    run_blocks(P, 0, P.M, 0, P.N);
  } else if (np >= 2 * tasks || np >= mp) {
    // Columns: each task packs only its own share of B.
    split(pool, tasks, np, kNR, P.N, [&](int64_t n0, int64_t n1) { run_blocks(P, 0, P.M, n0, n1); });
  } else {
    split(pool, tasks, mp, mr, P.M, [&](int64_t m0, int64_t m1) { run_blocks(P, m0, m1, 0, P.N); });
  }
}

bool set_epilogue(const QEpilogue& ep, Problem* P) {
  P->out.multiplier = ep.multiplier;
  P->out.residual = ep.residual;
  P->out.ldr = ep.ldr;
  P->out.residual_multiplier = ep.residual_multiplier;
  return set_offsets(ep.bias, P);
}

}  // namespace

namespace qgemm_internal {

std::vector<const Kernels*> available_kernels() {
  std::vector<const Kernels*> v{&scalar_kernels()};
#if defined(__x86_64__) || defined(_M_X64)
  const CpuFeatures& cf = cpu_features();
  if (cf.avx2 && cf.fma) {
    v.push_back(&avx2_kernels());
    if (cf.avx_vnni) v.push_back(&avxvnni_kernels());
    if (cf.avx512_vnni && cf.avx512vl && cf.avx512bw) {
      v.push_back(&avx512vnni_kernels());
      v.push_back(&avx512vnni_6x16_kernels());
    }
  }
#endif
#if defined(__aarch64__)
  const CpuFeatures& cf = cpu_features();
  v.push_back(&neon_kernels());
  if (cf.neon_dot) v.push_back(&neondot_kernels());
  if (cf.neon_dot && cf.neon_i8mm) v.push_back(&i8mm_kernels());
#endif
  return v;
}

const Kernels* kernels_by_id(int id) {
  static const std::vector<const Kernels*> all = available_kernels();
  for (const Kernels* k : all)
    if (k->id == id) return k;
  return nullptr;
}

void set_kernels_for_testing(const Kernels* k) { g_kernels_override.store(k); }
void set_fallback_for_testing(bool on) { g_force_fallback.store(on); }

}  // namespace qgemm_internal

std::string qgemm_kernel_name() { return pack_kernels().name; }

Status qpack_a(const int8_t* A, int64_t lda, int64_t M, int64_t K, QPackedA* out) {
  if (M < 0 || K < 0) return Status(ErrorCode::kInvalidArgument, "qpack_a: negative dimension");
  if (M > 0 && K > 0) {
    if (!A) return Status(ErrorCode::kInvalidArgument, "qpack_a: null matrix");
    if (lda < K) return Status(ErrorCode::kInvalidArgument, "qpack_a: leading dimension too small");
  }
  const Kernels& f = pack_kernels();
  const int64_t kg = ceil_div(K, f.kgroup), Mp = round_up(M, f.mr);
  if (double(Mp) * double(kg * f.kgroup) * elem_bytes(f.a_elem) > double(kMaxElements))
    return Status(ErrorCode::kTooLarge, "qpack_a: matrix too large");
  const int64_t panel = int64_t(f.mr) * kg * f.kgroup;  // elements
  try {
    out->data.assign(size_t(Mp * kg * f.kgroup * elem_bytes(f.a_elem) + qgemm_internal::kAPadBytes), 0);
    out->row_sums.assign(size_t(M), 0);
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kOutOfMemory, "qpack_a: out of memory");
  }
  int16_t* d16 = reinterpret_cast<int16_t*>(out->data.data());
  int8_t* d8 = out->data.data();
  for (int64_t m = 0; m < M; m++) {
    const int8_t* src = A + m * lda;
    const int64_t row0 = (m / f.mr) * panel + (m % f.mr) * f.kgroup;  // element (m, k = 0)
    const int64_t gstride = int64_t(f.mr) * f.kgroup;                  // from group g to g + 1
    uint32_t sum = 0;
    for (int64_t k0 = 0, at = row0; k0 < K; k0 += f.kgroup, at += gstride) {
      const int n = int(std::min<int64_t>(f.kgroup, K - k0));  // the rest of the group stays zero
      for (int e = 0; e < n; e++) {
        const int8_t v = src[k0 + e];
        sum += uint32_t(int32_t(v));
        if (f.a_elem == Elem::kS16) d16[at + e] = v;
        else d8[at + e] = v;
      }
    }
    out->row_sums[size_t(m)] = int32_t(sum);
  }
  out->M = M;
  out->K = K;
  out->isa = f.id;
  return Status::OK();
}

void qgemm_s8(const QPackedA& A, int64_t N, const int8_t* B, int64_t ldb, int8_t* C, int64_t ldc,
              const QEpilogue& ep, ThreadPool* pool) {
  Problem P;
  if (!ep.multiplier || !setup(A, N, B, ldb, C, ldc, &P)) return;
  P.out.kind = OutKind::kS8;
  if (!set_epilogue(ep, &P)) return;
  qgemm_internal::s8_bounds(ep, &P.out.lo, &P.out.hi);
  run(P, pool);
}

void qgemm_s8_f32(const QPackedA& A, int64_t N, const int8_t* B, int64_t ldb, float* C, int64_t ldc,
                  const QEpilogue& ep, ThreadPool* pool) {
  Problem P;
  if (!ep.multiplier || !setup(A, N, B, ldb, C, ldc, &P)) return;
  P.out.kind = OutKind::kF32;
  if (!set_epilogue(ep, &P)) return;
  P.out.lo = ep.fmin;
  P.out.hi = ep.fmax;
  run(P, pool);
}

void qgemm_s8_im2col(const QPackedA& A, const QIm2col& src, int8_t* C, int64_t ldc, const QEpilogue& ep,
                     ThreadPool* pool) {
  Problem P;
  if (!ep.multiplier || !setup_im2col(A, src, C, ldc, &P)) return;
  P.out.kind = OutKind::kS8;
  if (!set_epilogue(ep, &P)) return;
  qgemm_internal::s8_bounds(ep, &P.out.lo, &P.out.hi);
  run(P, pool);
}

bool qgemm_im2col_is_fused(const QPackedA& A) {
  const Kernels* f = qgemm_internal::kernels_by_id(A.isa);
  return f && f->pack_b_im2col;
}

void qgemm_s8_s32_im2col(const QPackedA& A, const QIm2col& src, int32_t* C, int64_t ldc, ThreadPool* pool) {
  Problem P;
  if (!setup_im2col(A, src, C, ldc, &P)) return;
  P.out.kind = OutKind::kS32;
  if (!set_offsets(nullptr, &P)) return;
  run(P, pool);
}

void qgemm_s8_s32(const QPackedA& A, int64_t N, const int8_t* B, int64_t ldb, int32_t* C, int64_t ldc,
                  ThreadPool* pool) {
  Problem P;
  if (!setup(A, N, B, ldb, C, ldc, &P)) return;
  P.out.kind = OutKind::kS32;
  if (!set_offsets(nullptr, &P)) return;
  run(P, pool);
}

}  // namespace int8rt
