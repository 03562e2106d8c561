// MatMul's shape rules (numpy matmul): a rank-1 A is a row and a rank-1 B a column (the promoted axis is dropped from
// the output), the trailing two dims multiply as [M, K] x [K, N], and the leading batch dims broadcast. Shared by the
// CPU MatMul (ops/gemm.cc) and the CUDA one (ops/cuda/matmul_f32.cc), so both accept and refuse the same shapes with
// the same messages.
#pragma once
#include <algorithm>
#include <vector>

#include "core/op_kernel.h"

namespace int8rt {

struct MatMulShape {
  int64_t M = 0, N = 0, K = 0;
  Dims a_batch, b_batch;  // A's and B's own batch dims
  Dims batch;             // the output's (broadcast) batch dims
  Dims out;               // the output dims
  // Per output batch axis: A's and B's element strides (0 where that operand broadcasts).
  std::vector<int64_t> a_strides, b_strides;
};

inline Status matmul_shape(const NodeDef& node, const Dims& ad, const Dims& bd, MatMulShape* s) {
  if (ad.empty() || bd.empty()) return shape_error(node, "MatMul operands must have rank >= 1");
  const bool a1 = ad.size() == 1, b1 = bd.size() == 1;
  s->M = a1 ? 1 : ad[ad.size() - 2];
  s->K = ad.back();
  const int64_t Kb = b1 ? bd[0] : bd[bd.size() - 2];
  s->N = b1 ? 1 : bd.back();
  if (s->K != Kb) return shape_error(node, "inner dimensions differ: A is " + dims_str(ad) + ", B is " + dims_str(bd));
  s->a_batch.assign(ad.begin(), ad.end() - (a1 ? 1 : 2));
  s->b_batch.assign(bd.begin(), bd.end() - (b1 ? 1 : 2));
  const Dims &ab = s->a_batch, &bb = s->b_batch;
  const size_t rank = std::max(ab.size(), bb.size());
  s->batch.assign(rank, 1);
  for (size_t i = 0; i < rank; i++) {
    const int64_t x = i + ab.size() >= rank ? ab[i + ab.size() - rank] : 1;
    const int64_t y = i + bb.size() >= rank ? bb[i + bb.size() - rank] : 1;
    if (x != y && x != 1 && y != 1)
      return shape_error(node, "batch dimensions of A " + dims_str(ad) + " and B " + dims_str(bd) +
                                   " cannot be broadcast");
    s->batch[i] = x == 1 ? y : x;
  }
  s->out = s->batch;
  if (!a1) s->out.push_back(s->M);
  if (!b1) s->out.push_back(s->N);
  if (dims_numel(s->out) < 0) return Status(ErrorCode::kTooLarge, node.describe() + ": output is too large");
  s->a_strides.assign(rank, 0);
  s->b_strides.assign(rank, 0);
  int64_t st = s->M * s->K;
  for (size_t i = ab.size(); i-- > 0;) {
    if (ab[i] != 1) s->a_strides[i + rank - ab.size()] = st;
    st *= ab[i];
  }
  st = s->K * s->N;
  for (size_t i = bb.size(); i-- > 0;) {
    if (bb[i] != 1) s->b_strides[i + rank - bb.size()] = st;
    st *= bb[i];
  }
  return Status::OK();
}

}  // namespace int8rt
