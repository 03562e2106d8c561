#include "quant/quantize_pass.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>

#include "quant/qnode.h"

namespace int8rt {

namespace {

// Ops whose int8 output has the scale of their int8 input: data movement, max, and clamps.
const std::set<std::string> kScalePassThrough = {
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Split", "Gather", "Identity", "Dropout",
    "DepthToSpace", "SpaceToDepth", "Resize", "Upsample", "Pad", "Expand", "Tile", "MaxPool", "GlobalMaxPool",
    "Relu", "Clip"};

// Ops that may start an int8 region (quantizing a float input at a boundary pays off because they carry the MACs).
const std::set<std::string> kRegionStarters = {"Conv", "Gemm", "MatMul"};

// Which inputs of a node carry activations (int8 in an int8 node); the others are weights or shape/attribute tensors.
std::vector<size_t> data_inputs(const NodeDef& n) {
  const std::string& op = n.op_type;
  std::vector<size_t> idx;
  if (op == "Conv") {
    idx.push_back(0);
    if (n.inputs.size() > 3 && !n.inputs[3].empty()) idx.push_back(3);
  } else if (op == "Gemm" || op == "MatMul") {
    idx.push_back(0);
  } else if (op == "Add" || op == "Mul" || op == "Concat") {
    for (size_t i = 0; i < n.inputs.size(); i++)
      if (!n.inputs[i].empty()) idx.push_back(i);
  } else {
    idx.push_back(0);
  }
  return idx;
}

std::string qname(const std::string& v) { return v + "::q"; }

// A unary chain (core/passes.h) stands in the graph as one node, op "LookupTable" in the "int8rt" domain, named
// after the chain's last node, reading x and writing y. The planner turns it into a 256-entry int8 table when x is
// int8; otherwise it puts the original nodes back, and they are planned one by one.
constexpr const char* kTableOp = "LookupTable";
constexpr const char* kInternalDomain = "int8rt";

struct FusedChain {
  std::string input, output;
  std::vector<NodeDef> nodes;                              // the original nodes, in graph order
  std::map<std::string, PassState::Fate> previous_fates;  // fates the fusion overwrote (to restore on expansion)
  std::set<std::string> new_fates;                         // fates the fusion added
};

bool is_table_node(const NodeDef& n) { return n.op_type == kTableOp && n.domain == kInternalDomain; }

// Replaces each chain none of whose nodes is pinned to fp32 by its LookupTable node.
void fuse_chains(PassState& g, const QuantizeOptions& opts, std::map<std::string, FusedChain>* fused) {
  std::vector<UnaryChain> chains = find_unary_chains(g);
  if (chains.empty()) return;
  std::vector<bool> drop(g.nodes.size(), false);
  for (const UnaryChain& c : chains) {
    std::vector<std::string> names;
    for (size_t i : c.nodes) {
      const NodeDef& n = g.nodes[i];
      if (n.fused_from.empty())
        names.push_back(n.name);
      else
        names.insert(names.end(), n.fused_from.begin(), n.fused_from.end());
    }
    bool pinned = false;
    for (const auto& nm : names) {
      auto it = opts.node_precision.find(nm);
      pinned |= it != opts.node_precision.end() && it->second == Precision::kFp32;
    }
    if (pinned) continue;
    const std::string host = g.nodes[c.nodes.back()].name;
    NodeDef t;
    t.name = host;
    t.op_type = kTableOp;
    t.domain = kInternalDomain;
    t.inputs = {c.input};
    t.outputs = {c.output};
    t.fused_from = {t.name};
    FusedChain f;
    f.input = c.input;
    f.output = c.output;
    std::string ops;
    for (size_t i : c.nodes) {
      f.nodes.push_back(g.nodes[i]);
      ops += (ops.empty() ? "" : ", ") + g.nodes[i].op_type;
    }
    const std::string note = "fused into an int8 lookup table: '" + c.output + "' = f('" + c.input + "') by " +
                             std::to_string(c.nodes.size()) + " elementwise nodes (" + ops + ")";
    for (const auto& nm : names) {
      if (nm == t.name) continue;
      t.fused_from.push_back(nm);
      auto old = g.fates.find(nm);
      if (old != g.fates.end())
        f.previous_fates[nm] = old->second;
      else
        f.new_fates.insert(nm);
      g.fates[nm] = {t.name, note};
    }
    for (size_t k = 0; k + 1 < c.nodes.size(); k++) drop[c.nodes[k]] = true;
    g.nodes[c.nodes.back()] = std::move(t);
    (*fused)[host] = std::move(f);
  }
  std::vector<NodeDef> kept;
  for (size_t i = 0; i < g.nodes.size(); i++)
    if (!drop[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

}  // namespace

Status quantize_graph(PassState& g, const QuantizeOptions& opts, std::map<std::string, NodeDecision>* decisions) {
  const KernelRegistry& reg = kernel_registry();
  std::map<std::string, float> int8_scale;        // values available as int8 (name -> scale)
  std::map<std::string, bool> produced_int8;       // value -> written by an int8 node
  std::set<std::string> need_quant, need_dequant;  // boundaries to insert
  std::vector<bool> is_int8;                        // per planned node

  auto scale_of_range = [&](const std::string& v, float* s, std::string* why) {
    auto it = opts.amax.find(v);
    if (it == opts.amax.end()) {
      *why = "no calibration range for tensor '" + v + "'";
      return false;
    }
    if (!(it->second > 0.f) || !std::isfinite(it->second)) {
      *why = "the calibration range of tensor '" + v + "' is " + std::to_string(it->second);
      return false;
    }
    *s = it->second / 127.f;
    return true;
  };

  // Conv -> constant Mul/Add (PaddleOCR's learnable affine blocks) becomes one Conv, and each elementwise chain
  // y = f(x) one table: every step they remove would round (and maybe clip) its result to an int8 grid of its own.
  INT8RT_RETURN_IF_ERROR(fold_conv_affine(g));
  std::map<std::string, FusedChain> fused;
  fuse_chains(g, opts, &fused);

  // Division by a constant is multiplication by its reciprocal, which has an int8 kernel (hard-swish's x / 6).
  // (Chains keep their Div: they are evaluated in float; one put back is rewritten then.)
  auto div_to_mul = [&g](NodeDef& n) -> Status {
    if (n.op_type != "Div" || !n.domain.empty() || n.inputs.size() != 2) return Status::OK();
    auto c = g.constants.find(n.inputs[1]);
    if (c == g.constants.end() || c->second.dtype() != DType::kFloat32) return Status::OK();
    bool nonzero = true;
    for (int64_t k = 0; k < c->second.numel(); k++) nonzero &= c->second.data<float>()[k] != 0.f;
    if (!nonzero) return Status::OK();
    Tensor r;
    INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, c->second.dims(), &r));
    for (int64_t k = 0; k < r.numel(); k++) r.data<float>()[k] = 1.f / c->second.data<float>()[k];
    std::string rname = n.name + "::reciprocal";
    g.constants[rname] = r;
    n.op_type = "Mul";
    n.inputs[1] = rname;
    return Status::OK();
  };
  for (NodeDef& n : g.nodes) INT8RT_RETURN_IF_ERROR(div_to_mul(n));

  std::vector<NodeDef> nodes = std::move(g.nodes);
  g.nodes.clear();
  for (size_t ni = 0; ni < nodes.size(); ni++) {
    NodeDef n = std::move(nodes[ni]);
    const bool table = is_table_node(n);
    NodeDecision d;
    // Overrides: any ONNX node of a fused group pinned to fp32 pins the group (chains with such a node were not
    // fused).
    std::vector<std::string> names = n.fused_from.empty() ? std::vector<std::string>{n.name} : n.fused_from;
    bool pinned_fp32 = false, pinned_int8 = false;
    for (const auto& nm : names) {
      auto it = opts.node_precision.find(nm);
      if (it == opts.node_precision.end()) continue;
      if (it->second == Precision::kFp32) pinned_fp32 = true;
      if (it->second == Precision::kInt8) pinned_int8 = true;
    }
    std::string why;
    NodeDef trial = n;
    std::vector<float> in_scales(n.inputs.size(), 0.f), out_scales(n.outputs.size(), 0.f);
    std::vector<std::string> quantize_here;  // float inputs this node would quantize
    bool ok = true;
    // A missing calibration range is reported only when nothing else stops the node (its kernel's refusal, a float
    // input): a stand-in scale takes its place until then.
    bool missing_range = false;
    std::string missing_range_why;
    if (pinned_fp32) {
      ok = false;
      why = "pinned to fp32 by nodePrecision";
    } else if ((!n.domain.empty() && !table) ||
               !reg.find(n.op_type, n.domain, g.opset, Device::kCpu, Precision::kInt8, nullptr)) {
      ok = false;
      why = "no int8 kernel for " + n.op_type;
    } else if (n.op_type == "Conv" && !n.attr_string("__activation", "").empty() &&
               n.attr_string("__activation", "") != "Relu" && n.attr_string("__activation", "") != "Clip") {
      ok = false;
      why = "fused activation " + n.attr_string("__activation", "") + " has no int8 Conv epilogue";
    }
    if (ok) {
      bool any_int8_input = false;
      for (size_t i : data_inputs(n)) {
        const std::string& x = n.inputs[i];
        auto cst = g.constants.find(x);
        if (cst != g.constants.end()) {
          // A constant operand of Add/Mul/Concat (a bias, a scale, hard-swish's +3) is quantized once, per tensor.
          bool elementwise = n.op_type == "Add" || n.op_type == "Mul" || n.op_type == "Concat";
          if (cst->second.dtype() != DType::kFloat32) {
            ok = false;
            why = "input '" + x + "' is a " + dtype_name(cst->second.dtype()) + " constant; only float tensors are quantized";
            break;
          }
          if (!elementwise) {
            ok = false;
            why = "input '" + x + "' is a constant; the int8 " + n.op_type + " takes activations only";
            break;
          }
          const Tensor& c = cst->second;
          float amax = 0.f;
          for (int64_t k = 0; k < c.numel(); k++) amax = std::max(amax, std::fabs(c.data<float>()[k]));
          float sc = amax > 0.f ? amax / 127.f : 1.f;
          std::string qc = qname(x);
          if (!g.constants.count(qc)) {
            Tensor q;
            INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kInt8, c.dims(), &q));
            for (int64_t k = 0; k < c.numel(); k++) q.data<int8_t>()[k] = quantize_s8(c.data<float>()[k], sc);
            g.constants[qc] = q;
          }
          in_scales[i] = sc;
          trial.inputs[i] = qc;
          continue;
        }
        auto it = int8_scale.find(x);
        if (it != int8_scale.end()) {
          any_int8_input = true;
          in_scales[i] = it->second;
        } else {
          float s = 1.f;
          std::string w;
          if (!scale_of_range(x, &s, &w)) {
            if (!missing_range) missing_range_why = w;
            missing_range = true;
          }
          in_scales[i] = s;
          quantize_here.push_back(x);
        }
        trial.inputs[i] = qname(x);
      }
      if (ok && !any_int8_input && !kRegionStarters.count(n.op_type)) {
        ok = false;
        why = "its input comes from a float node; running it in int8 would only add quantize/dequantize steps";
      }
    }
    if (ok && table) {
      // The table: f evaluated in float32 on the 256 values of x's int8 grid, quantized to y's scale. Its output
      // range is y's calibrated range, but never wider than the largest |f| the table can produce (a wider one
      // would only waste levels); without a calibrated range, that largest |f|.
      const FusedChain& f = fused.at(n.name);
      std::vector<float> xs(256), ys;
      for (int q = -128; q < 128; q++) xs[size_t(q + 128)] = float(q) * in_scales[0];
      Status st = evaluate_unary_chain(g, f.nodes, f.input, f.output, xs, &ys);
      float reach = 0.f;
      for (float v : ys) {
        if (std::isnan(v)) st = Status(ErrorCode::kUnsupported, "its result is NaN for part of the int8 input range");
        reach = std::max(reach, std::fabs(v));
      }
      float s_y = 0.f;
      if (!st.ok()) {
        ok = false;
        why = st.message();
      } else {
        auto cal = opts.amax.find(f.output);
        const bool have_cal = cal != opts.amax.end() && cal->second > 0.f && std::isfinite(cal->second);
        const float amax = have_cal ? std::min(cal->second, reach) : reach;
        s_y = amax > 0.f && std::isfinite(amax) ? amax / 127.f : 1.f;
        Attribute a;
        a.name = "__table";
        a.type = Attribute::Type::kInts;
        for (float v : ys) a.ints.push_back(quantize_s8(v, s_y));
        trial.attrs.push_back(a);
        out_scales[0] = s_y;
        trial.outputs[0] = qname(n.outputs[0]);
      }
    }
    if (ok && !table) {
      for (size_t o = 0; o < n.outputs.size() && ok; o++) {
        if (n.outputs[o].empty()) continue;
        if (kScalePassThrough.count(n.op_type)) {
          if (n.op_type == "Dropout" && o > 0) {
            ok = false;
            why = "Dropout's mask output is used";
            break;
          }
          out_scales[o] = in_scales[data_inputs(n)[0]];
        } else {
          std::string w;
          if (!scale_of_range(n.outputs[o], &out_scales[o], &w)) {
            out_scales[o] = 1.f;
            if (!missing_range) missing_range_why = w;
            missing_range = true;
          }
        }
        trial.outputs[o] = qname(n.outputs[o]);
      }
    }
    if (ok) {
      // The kernel has the last word: its factory refuses what it cannot do, with a reason.
      Attribute a;
      a.name = "__in_scales";
      a.type = Attribute::Type::kFloats;
      a.floats = in_scales;
      trial.attrs.push_back(a);
      a.name = "__out_scales";
      a.floats = out_scales;
      trial.attrs.push_back(a);
      const KernelDef* def = reg.find(n.op_type, n.domain, g.opset, Device::kCpu, Precision::kInt8, nullptr);
      std::vector<const Tensor*> consts;
      for (const auto& in : trial.inputs) {
        auto c = g.constants.find(in);
        consts.push_back(c == g.constants.end() ? nullptr : &c->second);
      }
      KernelInfo info(trial, g.opset, consts);
      std::unique_ptr<OpKernel> kernel;
      Status st = def->factory(info, &kernel);
      if (!st.ok()) {
        ok = false;
        why = st.message();
        std::string prefix = trial.describe() + ": ";
        if (why.compare(0, prefix.size(), prefix) == 0) why = why.substr(prefix.size());
      } else if (missing_range) {
        ok = false;
        why = missing_range_why;
      }
    }
    if (!ok && table) {
      // Not int8 after all: the original nodes go back in its place and are planned one by one.
      FusedChain& f = fused.at(n.name);
      for (const auto& nm : f.new_fates) g.fates.erase(nm);
      for (const auto& kv : f.previous_fates) g.fates[kv.first] = kv.second;
      std::vector<NodeDef> back = f.nodes;
      for (NodeDef& b : back) INT8RT_RETURN_IF_ERROR(div_to_mul(b));
      nodes.insert(nodes.begin() + std::ptrdiff_t(ni + 1), back.begin(), back.end());
      continue;
    }
    if (!ok && pinned_int8)
      return Status(ErrorCode::kUnsupported,
                    n.describe() + " is pinned to int8 by nodePrecision but cannot run in int8: " + why);
    if (ok) {
      for (const auto& x : quantize_here) need_quant.insert(x);
      // Record the scales of the values this node quantizes and of its outputs.
      for (size_t i : data_inputs(n))
        if (!g.constants.count(n.inputs[i])) int8_scale[n.inputs[i]] = in_scales[i];
      for (size_t o = 0; o < n.outputs.size(); o++) {
        if (n.outputs[o].empty()) continue;
        int8_scale[n.outputs[o]] = out_scales[o];
        produced_int8[n.outputs[o]] = true;
      }
      n = std::move(trial);
      is_int8.push_back(true);
      d.precision = Precision::kInt8;
    } else {
      is_int8.push_back(false);
      d.reason = why;
      // A float node reading a value that only exists as int8 needs it dequantized.
      for (const auto& x : n.inputs)
        if (produced_int8.count(x)) need_dequant.insert(x);
    }
    (*decisions)[n.name] = d;
    g.nodes.push_back(std::move(n));
  }
  for (const auto& o : g.graph_outputs)
    if (produced_int8.count(o)) need_dequant.insert(o);

  // Boundary nodes: QuantizeLinear right after a float producer (or at the top for graph inputs), DequantizeLinear
  // right after an int8 producer.
  auto scalar_const = [&](const std::string& name, float s) {
    Tensor t;
    Tensor::create(DType::kFloat32, {}, &t);
    t.data<float>()[0] = s;
    g.constants[name] = t;
  };
  auto zero_point = [&](const std::string& name) {
    Tensor t;
    Tensor::create(DType::kInt8, {}, &t);
    g.constants[name] = t;
  };
  auto make_q = [&](const std::string& x) {
    NodeDef q;
    q.op_type = "QuantizeLinear";
    q.name = x + "::quantize";
    q.set_attr_int("__boundary", 1);
    scalar_const(x + "::scale", int8_scale[x]);
    zero_point(x + "::zero_point");
    q.inputs = {x, x + "::scale", x + "::zero_point"};
    q.outputs = {qname(x)};
    return q;
  };
  auto make_dq = [&](const std::string& x) {
    NodeDef q;
    q.op_type = "DequantizeLinear";
    q.name = x + "::dequantize";
    q.set_attr_int("__boundary", 1);
    scalar_const(x + "::scale", int8_scale[x]);
    zero_point(x + "::zero_point");
    q.inputs = {qname(x), x + "::scale", x + "::zero_point"};
    q.outputs = {x};
    return q;
  };
  std::set<std::string> produced;
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) produced.insert(o);
  std::vector<NodeDef> out;
  for (const auto& x : need_quant) {
    bool from_node = produced.count(x) || produced.count(qname(x));
    if (!from_node) {
      out.push_back(make_q(x));
      (*decisions)[out.back().name] = {Precision::kFp32, "precision boundary"};
    }
  }
  for (size_t ni = 0; ni < g.nodes.size(); ni++) {
    NodeDef& n = g.nodes[ni];
    std::vector<std::string> outs = n.outputs;
    out.push_back(std::move(n));
    for (const auto& o : outs) {
      if (o.empty()) continue;
      if (!is_int8[ni] && need_quant.count(o)) {
        out.push_back(make_q(o));
        (*decisions)[out.back().name] = {Precision::kFp32, "precision boundary"};
      }
      if (is_int8[ni]) {
        std::string x = o.size() > 3 && o.compare(o.size() - 3, 3, "::q") == 0 ? o.substr(0, o.size() - 3) : o;
        if (need_dequant.count(x)) {
          out.push_back(make_dq(x));
          (*decisions)[out.back().name] = {Precision::kFp32, "precision boundary"};
        }
      }
    }
  }
  g.nodes = std::move(out);
  return Status::OK();
}

Status plan_dynamic_int8(PassState& g, const QuantizeOptions& opts, std::map<std::string, NodeDecision>* decisions) {
  const KernelRegistry& reg = kernel_registry();
  for (NodeDef& n : g.nodes) {
    std::vector<std::string> names = n.fused_from.empty() ? std::vector<std::string>{n.name} : n.fused_from;
    bool pinned_fp32 = false, pinned_int8 = false;
    for (const auto& nm : names) {
      auto it = opts.node_precision.find(nm);
      if (it == opts.node_precision.end()) continue;
      pinned_fp32 |= it->second == Precision::kFp32;
      pinned_int8 |= it->second == Precision::kInt8;
    }
    NodeDecision d;
    std::string why;
    const KernelDef* def = nullptr;
    if (pinned_fp32) {
      why = "pinned to fp32 by nodePrecision";
    } else if (!n.domain.empty() || !kRegionStarters.count(n.op_type)) {
      why = "int8-dynamic quantizes only Conv, Gemm and MatMul";
    } else if (!(def = reg.find(n.op_type, n.domain, g.opset, Device::kCpu, Precision::kInt8, nullptr))) {
      why = "no int8 kernel for " + n.op_type;
    } else {
      // The kernel has the last word: its factory refuses what it cannot do, with a reason.
      NodeDef trial = n;
      trial.set_attr_int("__dynamic", 1);
      std::vector<const Tensor*> consts;
      for (const auto& in : trial.inputs) {
        auto c = g.constants.find(in);
        consts.push_back(c == g.constants.end() ? nullptr : &c->second);
      }
      KernelInfo info(trial, g.opset, consts);
      std::unique_ptr<OpKernel> kernel;
      Status st = def->factory(info, &kernel);
      if (st.ok()) {
        n = std::move(trial);
        d.precision = Precision::kInt8;
      } else {
        why = st.message();
        std::string prefix = trial.describe() + ": ";
        if (why.compare(0, prefix.size(), prefix) == 0) why = why.substr(prefix.size());
      }
    }
    if (d.precision != Precision::kInt8) {
      if (pinned_int8)
        return Status(ErrorCode::kUnsupported,
                      n.describe() + " is pinned to int8 by nodePrecision but cannot run in dynamic int8: " + why);
      d.reason = why;
    }
    (*decisions)[n.name] = d;
  }
  return Status::OK();
}

}  // namespace int8rt
