#include "core/passes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>

#include "core/fold_context.h"
#include "core/op_kernel.h"
#include "core/thread_pool.h"

namespace int8rt {

namespace {


// Who reads each value: name -> node indices (one entry per reading input slot).
std::map<std::string, std::vector<size_t>> readers_of(const std::vector<NodeDef>& nodes) {
  std::map<std::string, std::vector<size_t>> r;
  for (size_t i = 0; i < nodes.size(); i++)
    for (const auto& in : nodes[i].inputs)
      if (!in.empty()) r[in].push_back(i);
  return r;
}

const std::vector<std::string>& origin(const NodeDef& n, std::vector<std::string>& tmp) {
  if (!n.fused_from.empty()) return n.fused_from;
  tmp = {n.name};
  return tmp;
}

void absorb(NodeDef& host, const NodeDef& guest, PassState& g, const std::string& note) {
  std::vector<std::string> a, b;
  std::vector<std::string> from = origin(host, a);
  for (const auto& name : origin(guest, b)) {
    from.push_back(name);
    g.fates[name] = {host.name, note};
  }
  host.fused_from = from;
}

}  // namespace

Status fold_constants(PassState& g) {
  const KernelRegistry& reg = kernel_registry();
  ThreadPool pool(1);
  std::vector<NodeDef> kept;
  for (auto& n : g.nodes) {
    bool all_const = true;
    for (const auto& in : n.inputs)
      if (!in.empty() && !g.constants.count(in)) all_const = false;
    const KernelDef* def =
        all_const ? reg.find(n.op_type, n.domain, g.opset, Device::kCpu, Precision::kFp32, nullptr) : nullptr;
    if (!def) {
      kept.push_back(std::move(n));
      continue;
    }
    std::vector<const Tensor*> ins;
    for (const auto& in : n.inputs) ins.push_back(in.empty() ? nullptr : &g.constants[in]);
    KernelInfo info(n, g.opset, ins);
    std::unique_ptr<OpKernel> kernel;
    Status st = def->factory(info, &kernel);
    FoldContext ctx(n, ins, &pool);
    if (st.ok()) st = kernel->compute(ctx);
    if (!st.ok()) {
      // Leave it to run time, where the same error reaches the caller with the run's context.
      kept.push_back(std::move(n));
      continue;
    }
    for (size_t i = 0; i < n.outputs.size(); i++)
      if (!n.outputs[i].empty()) g.constants[n.outputs[i]] = ctx.outputs()[i];
    std::vector<std::string> tmp;
    for (const auto& name : origin(n, tmp)) g.fates[name] = {"", "folded to a constant at build"};
  }
  g.nodes = std::move(kept);
  return Status::OK();
}

Status fold_batchnorm(PassState& g) {
  auto readers = readers_of(g.nodes);
  std::vector<bool> removed(g.nodes.size(), false);
  for (size_t ci = 0; ci < g.nodes.size(); ci++) {
    NodeDef& conv = g.nodes[ci];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1 || conv.inputs.size() < 2) continue;
    const std::string& y = conv.outputs[0];
    auto rit = readers.find(y);
    if (rit == readers.end() || rit->second.size() != 1 || g.graph_outputs.count(y)) continue;
    size_t bi = rit->second[0];
    NodeDef& bn = g.nodes[bi];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.size() != 5 || bn.inputs[0] != y) continue;
    bool used_extra = false;
    for (size_t k = 1; k < bn.outputs.size(); k++) used_extra |= !bn.outputs[k].empty();
    if (used_extra || bn.attr_int("spatial", 1) != 1 || bn.attr_int("training_mode", 0) != 0) continue;
    auto cst = [&](const std::string& name) -> const Tensor* {
      auto it = g.constants.find(name);
      return it == g.constants.end() || it->second.dtype() != DType::kFloat32 ? nullptr : &it->second;
    };
    const Tensor* W = cst(conv.inputs[1]);
    const Tensor* B = conv.inputs.size() > 2 && !conv.inputs[2].empty() ? cst(conv.inputs[2]) : nullptr;
    if (!W || W->rank() < 3 || (conv.inputs.size() > 2 && !conv.inputs[2].empty() && !B)) continue;
    const Tensor *scale = cst(bn.inputs[1]), *beta = cst(bn.inputs[2]), *mean = cst(bn.inputs[3]), *var = cst(bn.inputs[4]);
    int64_t C = W->dim(0);
    if (!scale || !beta || !mean || !var || scale->numel() != C || beta->numel() != C || mean->numel() != C ||
        var->numel() != C || (B && B->numel() != C))
      continue;
    float eps = bn.attr_float("epsilon", 1e-5f);
    Tensor W2, B2;
    INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, W->dims(), &W2));
    INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {C}, &B2));
    int64_t per = W->numel() / C;
    for (int64_t c = 0; c < C; c++) {
      float k = scale->data<float>()[c] / std::sqrt(var->data<float>()[c] + eps);
      for (int64_t j = 0; j < per; j++) W2.data<float>()[c * per + j] = W->data<float>()[c * per + j] * k;
      float b0 = B ? B->data<float>()[c] : 0.f;
      B2.data<float>()[c] = (b0 - mean->data<float>()[c]) * k + beta->data<float>()[c];
    }
    std::string wname = conv.name + "::W_bn_folded", bname = conv.name + "::B_bn_folded";
    g.constants[wname] = W2;
    g.constants[bname] = B2;
    conv.inputs.resize(std::max<size_t>(conv.inputs.size(), 3));
    conv.inputs[1] = wname;
    conv.inputs[2] = bname;
    conv.outputs[0] = bn.outputs[0];
    absorb(conv, bn, g, "BatchNormalization folded into the Conv's weights and bias");
    removed[bi] = true;
  }
  std::vector<NodeDef> kept;
  for (size_t i = 0; i < g.nodes.size(); i++)
    if (!removed[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  return Status::OK();
}

Status fold_conv_bias_add(PassState& g) {
  auto readers = readers_of(g.nodes);
  std::vector<bool> removed(g.nodes.size(), false);
  for (size_t ci = 0; ci < g.nodes.size(); ci++) {
    NodeDef& conv = g.nodes[ci];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1 || conv.inputs.size() < 2) continue;
    const std::string& y = conv.outputs[0];
    auto rit = readers.find(y);
    if (rit == readers.end() || rit->second.size() != 1 || g.graph_outputs.count(y)) continue;
    size_t ai = rit->second[0];
    NodeDef& add = g.nodes[ai];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) continue;
    const std::string& other = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
    auto wit = g.constants.find(conv.inputs[1]);
    auto cit = g.constants.find(other);
    if (other == y || wit == g.constants.end() || cit == g.constants.end()) continue;
    const Tensor& W = wit->second;
    const Tensor& C = cit->second;
    if (W.dtype() != DType::kFloat32 || C.dtype() != DType::kFloat32 || W.rank() < 3) continue;
    int64_t cout = W.dim(0);
    size_t spatial = W.rank() - 2;  // the Conv output has rank W.rank(): [N, C, spatial...]
    // The constant must broadcast as one value per output channel: dims [.., C, 1, ..., 1] with the channel axis at
    // position 1 of the output, and nothing that would enlarge the output.
    if (C.numel() != cout || C.rank() > W.rank() || C.rank() < spatial + 1) continue;
    bool per_channel = C.dim(C.rank() - spatial - 1) == cout;
    for (size_t d = C.rank() - spatial; d < C.rank(); d++) per_channel &= C.dim(d) == 1;
    if (!per_channel) continue;
    const Tensor* B = conv.inputs.size() > 2 && !conv.inputs[2].empty() ? &g.constants[conv.inputs[2]] : nullptr;
    if (conv.inputs.size() > 2 && !conv.inputs[2].empty() && (!g.constants.count(conv.inputs[2]) || B->numel() != cout))
      continue;
    Tensor B2;
    INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {cout}, &B2));
    for (int64_t c = 0; c < cout; c++) B2.data<float>()[c] = (B ? B->data<float>()[c] : 0.f) + C.data<float>()[c];
    std::string bname = conv.name + "::B_add_folded";
    g.constants[bname] = B2;
    conv.inputs.resize(std::max<size_t>(conv.inputs.size(), 3));
    conv.inputs[2] = bname;
    conv.outputs[0] = add.outputs[0];
    absorb(conv, add, g, "constant Add folded into the Conv's bias");
    removed[ai] = true;
  }
  std::vector<NodeDef> kept;
  for (size_t i = 0; i < g.nodes.size(); i++)
    if (!removed[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  return Status::OK();
}

// Activations the Conv kernel can apply in its epilogue.
static bool fusable_activation(const NodeDef& n, const PassState& g, NodeDef& conv) {
  if (!n.domain.empty()) return false;
  if (n.op_type == "Relu") {
    conv.set_attr_string("__activation", "Relu");
    return true;
  }
  if (n.op_type == "Clip") {
    float lo = -INFINITY, hi = INFINITY;
    if (g.opset < 11) {
      lo = n.attr_float("min", -INFINITY);
      hi = n.attr_float("max", INFINITY);
    } else {
      for (size_t k = 1; k < n.inputs.size() && k < 3; k++) {
        if (n.inputs[k].empty()) continue;
        auto it = g.constants.find(n.inputs[k]);
        if (it == g.constants.end() || it->second.dtype() != DType::kFloat32 || it->second.numel() != 1) return false;
        (k == 1 ? lo : hi) = it->second.data<float>()[0];
      }
    }
    conv.set_attr_string("__activation", "Clip");
    conv.set_attr_float("__clip_min", lo);
    conv.set_attr_float("__clip_max", hi);
    return true;
  }
  if (n.op_type == "LeakyRelu") {
    conv.set_attr_string("__activation", "LeakyRelu");
    conv.set_attr_float("__alpha", n.attr_float("alpha", 0.01f));
    return true;
  }
  if (n.op_type == "HardSigmoid") {
    conv.set_attr_string("__activation", "HardSigmoid");
    conv.set_attr_float("__alpha", n.attr_float("alpha", 0.2f));
    conv.set_attr_float("__beta", n.attr_float("beta", 0.5f));
    return true;
  }
  if (n.op_type == "HardSwish" || n.op_type == "Sigmoid") {
    conv.set_attr_string("__activation", n.op_type);
    return true;
  }
  return false;
}

Status fuse_conv_epilogue(PassState& g, bool clamp_only) {
  // Iterate to a fixed point: Conv+Add first, then the activation after either.
  for (int round = 0; round < 2; round++) {
    auto readers = readers_of(g.nodes);
    std::vector<bool> removed(g.nodes.size(), false);
    for (size_t ci = 0; ci < g.nodes.size(); ci++) {
      if (removed[ci]) continue;
      NodeDef& conv = g.nodes[ci];
      if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1) continue;
      if (!conv.attr_string("__activation", "").empty()) continue;  // already ends in an activation
      const std::string& y = conv.outputs[0];
      auto rit = readers.find(y);
      if (rit == readers.end() || rit->second.size() != 1 || g.graph_outputs.count(y)) continue;
      size_t ni = rit->second[0];
      if (removed[ni]) continue;
      NodeDef& next = g.nodes[ni];
      NodeDef fused = conv;
      if (round == 0) {
        // Conv -> Add(y, r): r becomes the residual input. r must be a computed activation (constants are biases
        // whose broadcast shape the Conv epilogue does not take).
        if (next.op_type != "Add" || !next.domain.empty() || next.inputs.size() != 2 || conv.inputs.size() > 3) continue;
        const std::string& r = next.inputs[0] == y ? next.inputs[1] : next.inputs[0];
        if (r == y || g.constants.count(r)) continue;
        fused.inputs.resize(3);
        fused.inputs.push_back(r);
        fused.outputs[0] = next.outputs[0];
        absorb(fused, next, g, "residual Add fused into the Conv's epilogue");
      } else {
        if (clamp_only && next.op_type != "Relu" && next.op_type != "Clip") continue;
        if (!fusable_activation(next, g, fused)) continue;
        fused.outputs[0] = next.outputs[0];
        absorb(fused, next, g, next.op_type + " fused into the Conv's epilogue");
      }
      // The fused node takes the place of the later node: every input it reads is ready there.
      g.nodes[ni] = std::move(fused);
      removed[ci] = true;
    }
    std::vector<NodeDef> kept;
    for (size_t i = 0; i < g.nodes.size(); i++)
      if (!removed[i]) kept.push_back(std::move(g.nodes[i]));
    g.nodes = std::move(kept);
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// Int8 planning passes.

namespace {

// A float32 constant that broadcasts against a Conv output of rank `rank` with `cout` channels as one value per
// channel (per_channel) or one value for all; nullptr otherwise.
const Tensor* conv_channel_constant(const PassState& g, const std::string& name, size_t rank, int64_t cout,
                                    bool* per_channel) {
  auto it = g.constants.find(name);
  if (it == g.constants.end() || it->second.dtype() != DType::kFloat32 || it->second.empty()) return nullptr;
  const Tensor& c = it->second;
  if (c.rank() > rank) return nullptr;
  if (c.numel() == 1) {
    *per_channel = false;
    return &c;
  }
  // [.., C, 1, ..., 1] with C at the output's channel axis (position 1) and nothing before it but ones.
  const size_t spatial = rank - 2;
  if (c.numel() != cout || c.rank() < spatial + 1 || c.dim(c.rank() - spatial - 1) != cout) return nullptr;
  for (size_t d = c.rank() - spatial; d < c.rank(); d++)
    if (c.dim(d) != 1) return nullptr;
  *per_channel = true;
  return &c;
}

}  // namespace

Status fold_conv_affine(PassState& g) {
  for (bool changed = true; changed;) {
    changed = false;
    auto readers = readers_of(g.nodes);
    std::vector<bool> removed(g.nodes.size(), false);
    for (size_t ci = 0; ci < g.nodes.size(); ci++) {
      if (removed[ci]) continue;
      NodeDef& conv = g.nodes[ci];
      if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1 || conv.inputs.size() < 2 ||
          conv.inputs.size() > 3 || !conv.attr_string("__activation", "").empty())
        continue;
      const std::string& y = conv.outputs[0];
      auto rit = readers.find(y);
      if (rit == readers.end() || rit->second.size() != 1 || g.graph_outputs.count(y)) continue;
      const size_t ni = rit->second[0];
      if (removed[ni]) continue;
      const NodeDef& next = g.nodes[ni];
      const std::string& op = next.op_type;
      if ((op != "Mul" && op != "Add" && op != "Sub" && op != "Div") || !next.domain.empty() ||
          next.inputs.size() != 2 || next.outputs.size() != 1)
        continue;
      const bool y_first = next.inputs[0] == y;
      if (next.inputs[y_first ? 1 : 0] == y) continue;              // y op y
      if ((op == "Sub" || op == "Div") && !y_first) continue;      // c - y, c / y are not affine in y's channels
      auto wit = g.constants.find(conv.inputs[1]);
      if (wit == g.constants.end() || wit->second.dtype() != DType::kFloat32 || wit->second.rank() < 3) continue;
      const Tensor& W = wit->second;
      const int64_t cout = W.dim(0);
      const Tensor* B = nullptr;
      if (conv.inputs.size() > 2 && !conv.inputs[2].empty()) {
        auto bit = g.constants.find(conv.inputs[2]);
        if (bit == g.constants.end() || bit->second.dtype() != DType::kFloat32 || bit->second.numel() != cout) continue;
        B = &bit->second;
      }
      bool per_channel = false;
      const Tensor* C = conv_channel_constant(g, next.inputs[y_first ? 1 : 0], W.rank(), cout, &per_channel);
      if (!C) continue;
      auto cval = [&](int64_t c) { return C->data<float>()[per_channel ? c : 0]; };
      bool finite = true;
      for (int64_t c = 0; c < cout; c++) finite &= std::isfinite(cval(c)) && !(op == "Div" && cval(c) == 0.f);
      if (!finite) continue;
      Tensor B2;
      INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {cout}, &B2));
      for (int64_t c = 0; c < cout; c++) B2.data<float>()[c] = B ? B->data<float>()[c] : 0.f;
      if (op == "Mul" || op == "Div") {
        Tensor W2;
        INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, W.dims(), &W2));
        const int64_t per = W.numel() / cout;
        for (int64_t c = 0; c < cout; c++) {
          const float m = op == "Mul" ? cval(c) : 1.f / cval(c);
          for (int64_t j = 0; j < per; j++) W2.data<float>()[c * per + j] = W.data<float>()[c * per + j] * m;
          B2.data<float>()[c] *= m;
        }
        std::string wname = next.name + "::W_folded";
        g.constants[wname] = W2;
        conv.inputs[1] = wname;
      } else {
        for (int64_t c = 0; c < cout; c++) B2.data<float>()[c] += op == "Add" ? cval(c) : -cval(c);
      }
      // Without a bias, a Mul/Div leaves none to write.
      if (B || op == "Add" || op == "Sub") {
        std::string bname = next.name + "::B_folded";
        g.constants[bname] = B2;
        conv.inputs.resize(3);
        conv.inputs[2] = bname;
      }
      NodeDef folded = conv;
      folded.outputs[0] = next.outputs[0];
      absorb(folded, next, g, "constant " + op + " folded into the Conv's weights and bias");
      // The Conv takes the place of the later node, as in fuse_conv_epilogue.
      g.nodes[ni] = std::move(folded);
      removed[ci] = true;
      changed = true;
    }
    std::vector<NodeDef> kept;
    for (size_t i = 0; i < g.nodes.size(); i++)
      if (!removed[i]) kept.push_back(std::move(g.nodes[i]));
    g.nodes = std::move(kept);
  }
  return Status::OK();
}

namespace {

// Elementwise operators a unary chain may hold: one data input (their other inputs, if any, are constant
// parameters such as Clip's bounds) ...
const std::set<std::string> kChainUnary = {
    "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Elu", "Selu", "Celu", "Exp", "Log",
    "Sqrt", "Softplus", "Softsign", "Gelu", "Erf", "Mish", "Swish", "ThresholdedRelu", "Shrink", "Abs", "Neg",
    "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
    "Asinh", "Acosh", "Atanh", "Identity"};
// ... or numpy-broadcasting arithmetic over any of their inputs.
const std::set<std::string> kChainBinary = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"};

// The non-constant inputs of `n` when it may join a chain (every constant input a float32 holding one value, of
// rank <= 1; a Clip's bounds likewise); false when it may not.
bool chain_candidate(const PassState& g, const NodeDef& n, std::vector<std::string>* data) {
  if (!n.domain.empty() || n.outputs.size() != 1 || n.outputs[0].empty()) return false;
  if (!kChainUnary.count(n.op_type) && !kChainBinary.count(n.op_type)) return false;
  data->clear();
  for (size_t i = 0; i < n.inputs.size(); i++) {
    const std::string& in = n.inputs[i];
    if (in.empty()) continue;
    auto c = g.constants.find(in);
    if (c != g.constants.end()) {
      if (c->second.dtype() != DType::kFloat32 || c->second.numel() != 1 || c->second.rank() > 1) return false;
      continue;
    }
    // A unary operator's data is input 0; its other inputs must be constants.
    if (kChainUnary.count(n.op_type) && i > 0) return false;
    data->push_back(in);
  }
  return !data->empty();
}

}  // namespace

std::vector<UnaryChain> find_unary_chains(const PassState& g) {
  const size_t N = g.nodes.size();
  auto readers = readers_of(g.nodes);
  std::vector<std::vector<std::string>> data(N);
  std::vector<bool> candidate(N, false), taken(N, false);
  for (size_t i = 0; i < N; i++) candidate[i] = chain_candidate(g, g.nodes[i], &data[i]);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < N; i++)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty()) producer[o] = i;

  // Roots in graph order: graph inputs and constants never start one (a constant x would have been folded), so the
  // roots are node outputs, then values without a producer (graph inputs).
  std::vector<std::string> roots;
  std::set<std::string> seen;
  for (size_t i = 0; i < N; i++)
    for (const auto& in : g.nodes[i].inputs)
      if (!in.empty() && !g.constants.count(in) && !producer.count(in) && seen.insert(in).second) roots.push_back(in);
  for (size_t i = 0; i < N; i++)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty()) roots.push_back(o);

  std::vector<UnaryChain> chains;
  for (const std::string& x : roots) {
    auto rit = readers.find(x);
    if (rit == readers.end()) continue;
    // Grow: every candidate whose data inputs are x or values of the region. A reader is (re)checked each time one
    // of its inputs joins, so it joins once its last input has.
    std::set<std::string> avail = {x};
    std::set<size_t> joined;
    std::vector<std::string> work = {x};
    while (!work.empty()) {
      const std::string v = work.back();
      work.pop_back();
      auto r = readers.find(v);
      if (r == readers.end()) continue;
      for (size_t i : r->second) {
        if (!candidate[i] || taken[i] || joined.count(i)) continue;
        bool ok = true;
        for (const auto& in : data[i]) ok &= avail.count(in) > 0;
        if (!ok) continue;
        joined.insert(i);
        avail.insert(g.nodes[i].outputs[0]);
        work.push_back(g.nodes[i].outputs[0]);
      }
    }
    if (joined.size() < 2) continue;
    const std::vector<size_t> region(joined.begin(), joined.end());  // graph order
    std::map<std::string, size_t> in_region;  // output value -> node index
    for (size_t i : region) in_region[g.nodes[i].outputs[0]] = i;
    // End at the latest node whose ancestors in the region form a closed set.
    for (auto e = region.rbegin(); e != region.rend(); ++e) {
      std::set<size_t> A;
      std::vector<size_t> stack = {*e};
      while (!stack.empty()) {
        size_t i = stack.back();
        stack.pop_back();
        if (!A.insert(i).second) continue;
        for (const auto& in : data[i]) {
          auto p = in_region.find(in);
          if (p != in_region.end()) stack.push_back(p->second);
        }
      }
      if (A.size() < 2) continue;
      bool closed = true;
      for (size_t i : A) {
        if (i == *e) continue;
        const std::string& v = g.nodes[i].outputs[0];
        if (g.graph_outputs.count(v)) closed = false;
        auto r = readers.find(v);
        if (r != readers.end())
          for (size_t k : r->second) closed &= A.count(k) > 0;
      }
      if (!closed) continue;
      UnaryChain c;
      c.input = x;
      c.output = g.nodes[*e].outputs[0];
      c.nodes.assign(A.begin(), A.end());  // std::set: ascending, which is graph order
      for (size_t i : c.nodes) taken[i] = true;
      chains.push_back(std::move(c));
      break;
    }
  }
  std::sort(chains.begin(), chains.end(),
            [](const UnaryChain& a, const UnaryChain& b) { return a.nodes.back() < b.nodes.back(); });
  return chains;
}

Status evaluate_unary_chain(const PassState& g, const std::vector<NodeDef>& nodes, const std::string& input,
                            const std::string& output, const std::vector<float>& xs, std::vector<float>* ys) {
  const KernelRegistry& reg = kernel_registry();
  ThreadPool pool(1);
  std::map<std::string, Tensor> values;
  Tensor x;
  INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {int64_t(xs.size())}, &x));
  std::copy(xs.begin(), xs.end(), x.data<float>());
  values[input] = x;
  for (const NodeDef& n : nodes) {
    std::string why;
    const KernelDef* def = reg.find(n.op_type, n.domain, g.opset, Device::kCpu, Precision::kFp32, &why);
    if (!def) return Status(ErrorCode::kUnsupported, n.describe() + ": " + why);
    std::vector<const Tensor*> ins, consts;
    for (const auto& in : n.inputs) {
      const Tensor* t = nullptr;
      const Tensor* c = nullptr;
      if (!in.empty()) {
        auto v = values.find(in);
        auto k = g.constants.find(in);
        if (v != values.end()) {
          t = &v->second;
        } else if (k != g.constants.end()) {
          t = c = &k->second;
        } else {
          return Status(ErrorCode::kInternal, n.describe() + ": input '" + in + "' is not in its chain");
        }
      }
      ins.push_back(t);
      consts.push_back(c);
    }
    KernelInfo info(n, g.opset, consts);
    std::unique_ptr<OpKernel> kernel;
    INT8RT_RETURN_IF_ERROR(def->factory(info, &kernel));
    FoldContext ctx(n, ins, &pool);
    INT8RT_RETURN_IF_ERROR(kernel->compute(ctx));
    values[n.outputs[0]] = ctx.outputs()[0];
  }
  auto y = values.find(output);
  if (y == values.end() || y->second.dtype() != DType::kFloat32 || y->second.numel() != int64_t(xs.size()))
    return Status(ErrorCode::kInternal, "unary chain ending at '" + output + "' did not compute one float per input");
  ys->assign(y->second.data<float>(), y->second.data<float>() + xs.size());
  return Status::OK();
}

}  // namespace int8rt
