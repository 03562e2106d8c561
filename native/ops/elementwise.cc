// The elementwise operator family: registration, and the broadcast planner shared by its binary and variadic
// operators. The operators themselves live in elementwise_unary.cc (activations, math, Clip, Identity, Dropout),
// elementwise_binary.cc (arithmetic, comparison, logic, Pow, Mod, BitShift, PRelu, Where, Max/Min/Sum/Mean) and
// elementwise_cast.cc (Cast, CastLike); the float32 loops in elementwise_vec.h.
#include <algorithm>

#include "ops/elementwise_internal.h"
#include "ops/registry.h"

namespace int8rt {
namespace eltwise {

Status broadcast_dims(const NodeDef& node, const std::vector<const Dims*>& shapes, Dims* out) {
  size_t rank = 0;
  for (const Dims* s : shapes) rank = std::max(rank, s->size());
  Dims r(rank, 1);
  for (size_t k = 0; k < shapes.size(); k++) {
    const Dims& s = *shapes[k];
    const size_t lead = rank - s.size();
    for (size_t d = 0; d < s.size(); d++) {
      const int64_t v = s[d];
      int64_t& o = r[lead + d];
      if (v < 0) return shape_error(node, "negative dimension in input shape " + dims_str(s));
      if (v == o || v == 1) continue;
      if (o == 1) {
        o = v;
        continue;
      }
      std::string msg = "cannot broadcast shapes";
      for (size_t j = 0; j < shapes.size(); j++) msg += (j ? " and " : " ") + dims_str(*shapes[j]);
      return shape_error(node, msg);
    }
  }
  *out = std::move(r);
  return Status::OK();
}

Status broadcast_dims(const NodeDef& node, std::initializer_list<const Dims*> shapes, Dims* out) {
  return broadcast_dims(node, std::vector<const Dims*>(shapes), out);
}

bool BroadcastPlan::init(const Dims& out, std::initializer_list<const Dims*> inputs) {
  num_inputs = int(inputs.size());
  if (num_inputs < 1 || num_inputs > kMaxInputs) return false;
  numel = dims_numel(out);
  if (numel < 0) return false;
  const size_t rank = out.size();
  const Dims* in[kMaxInputs] = {nullptr, nullptr, nullptr};
  {
    int k = 0;
    for (const Dims* d : inputs) {
      if (d->size() > rank) return false;
      in[k++] = d;
    }
  }
  // In-dim size of input k at output dim d (1 where the input has fewer dims).
  auto in_dim = [&](int k, size_t d) -> int64_t {
    const size_t lead = rank - in[k]->size();
    return d < lead ? 1 : (*in[k])[d - lead];
  };
  // Walk output dims outermost first, dropping size-1 dims, merging neighbours with the same repeat pattern.
  dims.clear();
  std::vector<unsigned> masks;  // bit k set: input k repeats along this dim
  for (size_t d = 0; d < rank; d++) {
    const int64_t o = out[d];
    unsigned mask = 0;
    for (int k = 0; k < num_inputs; k++) {
      const int64_t v = in_dim(k, d);
      if (v == o) continue;
      if (v != 1) return false;
      mask |= 1u << k;
    }
    if (o == 1) continue;
    if (!dims.empty() && masks.back() == mask) {
      dims.back() *= o;
    } else {
      dims.push_back(o);
      masks.push_back(mask);
    }
  }
  if (dims.empty()) {  // a single element (rank 0, or all dims 1)
    dims.push_back(1);
    masks.push_back((1u << num_inputs) - 1);
  }
  for (int k = 0; k < num_inputs; k++) {
    strides[k].assign(dims.size(), 0);
    int64_t acc = 1;
    for (size_t d = dims.size(); d-- > 0;) {
      if (masks[d] & (1u << k)) continue;
      strides[k][d] = acc;
      acc *= dims[d];
    }
    inner_vec[k] = strides[k].back() == 1;
  }
  for (int k = num_inputs; k < kMaxInputs; k++) {
    strides[k].clear();
    inner_vec[k] = false;
  }
  return true;
}

}  // namespace eltwise

void register_elementwise_ops(KernelRegistry& r) {
  eltwise::register_unary_ops(r);
  eltwise::register_binary_ops(r);
  eltwise::register_cast_ops(r);
}

}  // namespace int8rt
