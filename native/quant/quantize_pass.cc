#include "quant/quantize_pass.h"

#include <algorithm>

#include "quant/qnode.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <set>

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

}  // namespace

Status quantize_graph(PassState& g, const QuantizeOptions& opts, std::map<std::string, NodeDecision>* decisions) {
  const KernelRegistry& reg = kernel_registry();
  std::map<std::string, float> int8_scale;        // values available as int8 (name -> scale)
  std::map<std::string, bool> produced_int8;       // value -> written by an int8 node
  std::set<std::string> need_quant, need_dequant;  // boundaries to insert
  std::vector<bool> is_int8(g.nodes.size(), false);

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

  // Division by a constant is multiplication by its reciprocal, which has an int8 kernel (hard-swish's x / 6).
  for (NodeDef& n : g.nodes) {
    if (n.op_type != "Div" || !n.domain.empty() || n.inputs.size() != 2) continue;
    auto c = g.constants.find(n.inputs[1]);
    if (c == g.constants.end() || c->second.dtype() != DType::kFloat32) continue;
    bool nonzero = true;
    for (int64_t k = 0; k < c->second.numel(); k++) nonzero &= c->second.data<float>()[k] != 0.f;
    if (!nonzero) continue;
    Tensor r;
    INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, c->second.dims(), &r));
    for (int64_t k = 0; k < r.numel(); k++) r.data<float>()[k] = 1.f / c->second.data<float>()[k];
    std::string rname = n.name + "::reciprocal";
    g.constants[rname] = r;
    n.op_type = "Mul";
    n.inputs[1] = rname;
  }

  for (size_t ni = 0; ni < g.nodes.size(); ni++) {
    NodeDef& n = g.nodes[ni];
    NodeDecision d;
    // Overrides: any ONNX node of a fused group pinned to fp32 pins the group.
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
    if (pinned_fp32) {
      ok = false;
      why = "pinned to fp32 by nodePrecision";
    } else if (!n.domain.empty() || !reg.find(n.op_type, n.domain, g.opset, Device::kCpu, Precision::kInt8, nullptr)) {
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
          float s;
          if (!scale_of_range(x, &s, &why)) {
            ok = false;
            break;
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
    if (ok) {
      for (size_t o = 0; o < n.outputs.size() && ok; o++) {
        if (n.outputs[o].empty()) continue;
        if (kScalePassThrough.count(n.op_type)) {
          if (n.op_type == "Dropout" && o > 0) {
            ok = false;
            why = "Dropout's mask output is used";
            break;
          }
          out_scales[o] = in_scales[data_inputs(n)[0]];
        } else if (!scale_of_range(n.outputs[o], &out_scales[o], &why)) {
          ok = false;
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
      }
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
      is_int8[ni] = true;
      d.precision = Precision::kInt8;
    } else {
      d.reason = why;
      // A float node reading a value that only exists as int8 needs it dequantized.
      for (const auto& x : n.inputs)
        if (produced_int8.count(x)) need_dequant.insert(x);
    }
    (*decisions)[n.name] = d;
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
