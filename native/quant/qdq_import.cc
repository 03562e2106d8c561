#include "quant/qdq_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <vector>

#include "core/fold_context.h"
#include "core/op_kernel.h"
#include "core/thread_pool.h"
#include "ops/qlinear_common.h"

namespace int8rt {

bool qdq_only_model(const ModelDef& model) {
  bool any = false;
  for (const auto& n : model.nodes) {
    if (!n.domain.empty() && n.domain != "ai.onnx") continue;
    if (n.op_type != "QuantizeLinear" && n.op_type != "DequantizeLinear") return false;
    any = true;
  }
  return any;
}

namespace {

constexpr size_t kNone = size_t(-1);

// The quantization of an activation: per tensor, 8-bit. `zero` is the stored zero point (not the signed domain).
struct ActQ {
  DType type = DType::kUndefined;
  float scale = 0.f;
  int32_t zero = 0;
  std::string scale_name, zero_name;  // constants the new node can read
  bool same(const ActQ& o) const { return type == o.type && scale == o.scale && zero == o.zero; }
};

// A DequantizeLinear of a constant (weights, bias).
struct ConstDQ {
  size_t node = kNone;
  const Tensor* x = nullptr;
  const Tensor* scale = nullptr;
  const Tensor* zero = nullptr;  // may be null
  int64_t axis = 1;              // normalised to [0, rank) when the scale is 1-D with more than one value
  std::string x_name, scale_name, zero_name;
  float s(int64_t c) const { return scale->numel() == 1 ? scale->data<float>()[0] : scale->data<float>()[c]; }
  int64_t z(int64_t c) const {
    if (!zero) return 0;
    return zero->int_at(zero->numel() == 1 ? 0 : c);
  }
  bool per_channel() const { return scale->numel() > 1; }
};

// Unary elementwise operators a 256-entry table can stand for (inputs past the first must be constants).
const std::set<std::string> kUnaryOps = {
    "Relu",     "Clip",   "Sigmoid",         "HardSigmoid", "HardSwish", "Tanh",  "LeakyRelu", "Elu",
    "Selu",     "Celu",   "Exp",             "Softplus",    "Softsign",  "Gelu",  "Erf",       "Mish",
    "Abs",      "Neg",    "ThresholdedRelu", "Shrink",      "Sqrt",      "Log",   "Reciprocal", "Floor",
    "Ceil",     "Round",  "Sin",             "Cos",         "Atan",      "Sign"};

// Binary elementwise operators a QLookup chain may contain (with a one-value constant or a chain value as the other
// operand).
const std::set<std::string> kBinaryOps = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"};


std::string describe_op(const NodeDef& n) {
  return (n.domain.empty() ? n.op_type : n.domain + "." + n.op_type) + " '" + n.name + "'";
}

int32_t saturate_i32(double v) {
  if (std::isnan(v)) return 0;
  v = std::min<double>(std::max<double>(v, -2147483648.0), 2147483647.0);
  return int32_t(v);
}

class Importer {
 public:
  Importer(PassState& g, QdqImport* out) : g_(g), out_(out) {}

  Status run() {
    materialise_constants();
    index();
    // QOperator nodes of the model run as they are, in int8.
    for (const NodeDef& n : g_.nodes) {
      const bool onnx_q = n.domain.empty() && (n.op_type == "QLinearConv" || n.op_type == "QLinearMatMul" ||
                                               n.op_type == "ConvInteger" || n.op_type == "MatMulInteger");
      const bool ms_q = n.domain == "com.microsoft" && (n.op_type == "QGemm" || n.op_type == "QLinearAdd" ||
                                                        n.op_type == "QLinearMul" || n.op_type == "QLinearConcat" ||
                                                        n.op_type == "QLinearGlobalAveragePool" ||
                                                        n.op_type == "QLinearAveragePool");
      if (onnx_q || ms_q) out_->decisions[n.name] = {Precision::kInt8, ""};
    }
    for (size_t i = 0; i < g_.nodes.size(); i++) {
      if (removed_[i] || replaced_.count(i)) continue;
      const NodeDef& n = g_.nodes[i];
      if (!n.domain.empty() || n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear") continue;
      if (!reads_dequantized(i)) continue;  // nothing quantized comes in: not a candidate
      std::string why;
      bool done = false;
      bool known = true;
      if (n.op_type == "Conv")
        done = try_conv(i, &why);
      else if (n.op_type == "Gemm")
        done = try_gemm(i, &why);
      else if (n.op_type == "MatMul")
        done = try_matmul(i, &why);
      else if (n.op_type == "Add" || n.op_type == "Mul")
        done = try_binary(i, &why);
      else if (n.op_type == "Concat")
        done = try_concat(i, &why);
      else if (n.op_type == "GlobalAveragePool" || n.op_type == "AveragePool")
        done = try_avgpool(i, &why);
      else if (is_mover(n.op_type))
        done = try_mover(i, &why);
      else
        known = false;
      // Elementwise ops, alone or chained, as a function of one quantized tensor: a lookup table.
      if (!done && (kUnaryOps.count(n.op_type) || kBinaryOps.count(n.op_type))) {
        std::string chain_why;
        INT8RT_RETURN_IF_ERROR(try_lookup(i, &done, &chain_why));
        why = known ? why + "; as a function of one input: " + chain_why : chain_why;
        known = true;
      }
      if (!known) why = "no quantized kernel for " + n.op_type;
      if (!done) why_float_[i] = why;
    }
    finish();
    return Status::OK();
  }

 private:
  // ---- graph bookkeeping

  // Constant nodes with a tensor value become constants now (constant folding would do the same a pass later), so
  // that scales and zero points given as Constant nodes are seen.
  void materialise_constants() {
    for (NodeDef& n : g_.nodes) {
      if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1 || n.outputs[0].empty()) continue;
      const Attribute* a = n.attr("value");
      if (!a || a->type != Attribute::Type::kTensor || a->t.empty() || n.attrs.size() != 1 ||
          dtype_size(a->t.dtype()) == 0)
        continue;
      if (g_.constants.count(n.outputs[0])) continue;
      g_.constants[n.outputs[0]] = a->t;
      g_.fates[n.name] = {"", "folded to a constant at build"};
      n.op_type = "";  // marks it for removal in index()
    }
    std::vector<NodeDef> kept;
    for (auto& n : g_.nodes)
      if (!n.op_type.empty()) kept.push_back(std::move(n));
    g_.nodes = std::move(kept);
  }

  void index() {
    removed_.assign(g_.nodes.size(), false);
    for (size_t i = 0; i < g_.nodes.size(); i++) {
      const NodeDef& n = g_.nodes[i];
      for (size_t s = 0; s < n.inputs.size(); s++)
        if (!n.inputs[s].empty()) readers_[n.inputs[s]].push_back({i, s});
      for (const auto& o : n.outputs)
        if (!o.empty()) producer_[o] = i;
    }
  }

  const Tensor* constant(const std::string& name) const {
    auto it = g_.constants.find(name);
    return it == g_.constants.end() ? nullptr : &it->second;
  }
  bool is_op(size_t i, const char* op) const {
    return i != kNone && !removed_[i] && g_.nodes[i].domain.empty() && g_.nodes[i].op_type == op;
  }
  size_t producer(const std::string& v) const {
    auto it = producer_.find(v);
    return it == producer_.end() ? kNone : it->second;
  }
  // The one node reading v (v not a graph output), else kNone.
  size_t single_reader(const std::string& v) const {
    if (g_.graph_outputs.count(v)) return kNone;
    auto it = readers_.find(v);
    if (it == readers_.end() || it->second.size() != 1) return kNone;
    return it->second[0].first;
  }
  static bool is_mover(const std::string& op) {
    for (const char* const* m = qlinear::kQ8DataMovers; *m; m++)
      if (op == *m) return true;
    return false;
  }
  bool reads_dequantized(size_t i) const {
    for (const auto& in : g_.nodes[i].inputs)
      if (!in.empty() && is_op(producer(in), "DequantizeLinear")) return true;
    return false;
  }

  // A zero-point constant for `type` (the value 0), created once.
  std::string zero_constant(DType type) {
    const std::string name = std::string("::qdq_zero_") + dtype_name(type);
    if (!g_.constants.count(name)) {
      Tensor t;
      Tensor::create(type, {}, &t);
      g_.constants[name] = t;
    }
    return name;
  }

  // ---- Q / DQ parameters

  // Per-tensor 8-bit parameters of a Q (output type from the zero point, output_dtype or uint8) or an activation DQ
  // (type from the zero point or from the Q that produced its input).
  bool act_params(const NodeDef& n, bool is_q, ActQ* q, std::string* why) {
    if (n.inputs.size() < 2 || n.attr_int("block_size", 0) != 0) {
      *why = describe_op(n) + " is blocked or incomplete";
      return false;
    }
    const Tensor* s = constant(n.inputs[1]);
    if (!s || s->dtype() != DType::kFloat32 || s->numel() != 1 || s->rank() > 1) {
      *why = describe_op(n) + " has no constant float32 per-tensor scale";
      return false;
    }
    const float sv = s->data<float>()[0];
    if (!(sv > 0.f) || !std::isfinite(sv)) {
      *why = describe_op(n) + " has the scale " + std::to_string(sv);
      return false;
    }
    q->scale = sv;
    q->scale_name = n.inputs[1];
    const bool has_zp = n.inputs.size() > 2 && !n.inputs[2].empty();
    if (has_zp) {
      const Tensor* z = constant(n.inputs[2]);
      if (!z || z->numel() != 1 || !qlinear::is_q8(z->dtype())) {
        *why = describe_op(n) + " has no constant 8-bit per-tensor zero point";
        return false;
      }
      q->type = z->dtype();
      q->zero = int32_t(z->int_at(0));
      q->zero_name = n.inputs[2];
    } else {
      if (is_q) {
        const int64_t od = n.attr_int("output_dtype", 0);
        q->type = od == 0 ? DType::kUint8 : DType(od);
      } else {
        // (The Q may already be folded into the node that now writes its output: it is still the type's source.)
        const size_t p = producer(n.inputs[0]);
        ActQ pq;
        std::string w;
        if (p != kNone && g_.nodes[p].domain.empty() && g_.nodes[p].op_type == "QuantizeLinear" &&
            act_params(g_.nodes[p], true, &pq, &w))
          q->type = pq.type;
      }
      if (!qlinear::is_q8(q->type)) {
        *why = describe_op(n) + " is not int8 or uint8 (or its type is unknown)";
        return false;
      }
      q->zero = 0;
      q->zero_name = zero_constant(q->type);
    }
    return true;
  }

  // Value v as a dequantized activation: the DQ producing it, the quantized tensor and its parameters.
  bool act_in(const std::string& v, size_t* dq, std::string* xq, ActQ* q, std::string* why) {
    const size_t p = producer(v);
    if (!is_op(p, "DequantizeLinear")) {
      *why = "input '" + v + "' does not come from a DequantizeLinear";
      return false;
    }
    const NodeDef& d = g_.nodes[p];
    if (d.inputs.empty() || constant(d.inputs[0])) {
      *why = "input '" + v + "' is a dequantized constant, not an activation";
      return false;
    }
    if (!act_params(d, false, q, why)) return false;
    *dq = p;
    *xq = d.inputs[0];
    return true;
  }

  bool const_dq(const std::string& v, ConstDQ* c, std::string* why) {
    const size_t p = producer(v);
    if (!is_op(p, "DequantizeLinear")) {
      *why = "'" + v + "' does not come from a DequantizeLinear";
      return false;
    }
    const NodeDef& d = g_.nodes[p];
    c->node = p;
    c->x = d.inputs.empty() ? nullptr : constant(d.inputs[0]);
    c->scale = d.inputs.size() > 1 ? constant(d.inputs[1]) : nullptr;
    c->zero = d.inputs.size() > 2 && !d.inputs[2].empty() ? constant(d.inputs[2]) : nullptr;
    if (!c->x || !c->scale || (d.inputs.size() > 2 && !d.inputs[2].empty() && !c->zero)) {
      *why = "the DequantizeLinear of '" + v + "' has non-constant inputs";
      return false;
    }
    if (c->scale->dtype() != DType::kFloat32 || c->scale->rank() > 1 || d.attr_int("block_size", 0) != 0) {
      *why = "the DequantizeLinear of '" + v + "' has a scale other than float32 per tensor or per axis";
      return false;
    }
    if (c->zero && (c->zero->dtype() != c->x->dtype() || c->zero->numel() != c->scale->numel())) {
      *why = "the DequantizeLinear of '" + v + "' has a zero point that does not match its scale or data";
      return false;
    }
    for (int64_t k = 0; k < c->scale->numel(); k++) {
      const float sv = c->scale->data<float>()[k];
      if (!(sv > 0.f) || !std::isfinite(sv)) {
        *why = "the DequantizeLinear of '" + v + "' has the scale " + std::to_string(sv);
        return false;
      }
    }
    const int64_t r = int64_t(c->x->rank());
    int64_t axis = d.attr_int("axis", 1);
    if (axis < 0) axis += r;
    c->axis = axis;
    if (c->per_channel() && (axis < 0 || axis >= r || c->x->dim(size_t(axis)) != c->scale->numel())) {
      *why = "the DequantizeLinear of '" + v + "' has a per-axis scale that does not match its data";
      return false;
    }
    c->x_name = d.inputs[0];
    c->scale_name = d.inputs[1];
    c->zero_name = c->zero ? d.inputs[2] : zero_constant(c->x->dtype());
    return true;
  }

  // The one QuantizeLinear reading v (v read by nothing else and not a graph output).
  bool single_q(const std::string& v, size_t* qi, ActQ* q, std::string* why) {
    const size_t r = single_reader(v);
    if (!is_op(r, "QuantizeLinear") || g_.nodes[r].inputs[0] != v) {
      *why = g_.graph_outputs.count(v) ? "its output '" + v + "' is a graph output"
                                       : "its output '" + v + "' is not read by exactly one QuantizeLinear";
      return false;
    }
    if (!act_params(g_.nodes[r], true, q, why)) return false;
    *qi = r;
    return true;
  }

  // The float bounds of a Relu / Clip node (constant bounds only).
  bool clamp_bounds(const NodeDef& n, float* lo, float* hi) const {
    *lo = -INFINITY;
    *hi = INFINITY;
    if (n.op_type == "Relu") {
      *lo = 0.f;
      return true;
    }
    if (n.op_type != "Clip") return false;
    if (g_.opset < 11) {
      *lo = n.attr_float("min", -INFINITY);
      *hi = n.attr_float("max", INFINITY);
      return true;
    }
    for (size_t k = 1; k < n.inputs.size() && k < 3; k++) {
      if (n.inputs[k].empty()) continue;
      const Tensor* t = constant(n.inputs[k]);
      if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
      (k == 1 ? *lo : *hi) = t->data<float>()[0];
    }
    return true;
  }

  // ---- the tail shared by Conv / Gemm / MatMul: [Add(DQ r)] [Relu | Clip] Q

  struct Tail {
    size_t q = kNone;
    ActQ yq;
    std::vector<size_t> absorbed;  // the Add, Relu/Clip and Q nodes, in order
    std::string act;
    float lo = -INFINITY, hi = INFINITY;
    bool residual = false;
    size_t r_dq = kNone;
    std::string r_q, r_value;
    ActQ rq;
  };

  bool follow_tail(size_t i, bool allow_residual, Tail* t, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    for (size_t o = 1; o < n.outputs.size(); o++)
      if (!n.outputs[o].empty()) {
        *why = "its optional outputs are used";
        return false;
      }
    std::string v = n.outputs[0];
    size_t r = single_reader(v);
    if (allow_residual && is_op(r, "Add") && g_.nodes[r].inputs.size() == 2) {
      const NodeDef& add = g_.nodes[r];
      const std::string& other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
      std::string w;
      if (other != v && act_in(other, &t->r_dq, &t->r_q, &t->rq, &w)) {
        t->residual = true;
        t->r_value = other;
        t->absorbed.push_back(r);
        v = add.outputs[0];
        r = single_reader(v);
      }
    }
    if ((is_op(r, "Relu") || is_op(r, "Clip")) && clamp_bounds(g_.nodes[r], &t->lo, &t->hi)) {
      t->act = g_.nodes[r].op_type;
      t->absorbed.push_back(r);
      v = g_.nodes[r].outputs[0];
    }
    if (!single_q(v, &t->q, &t->yq, why)) return false;
    t->absorbed.push_back(t->q);
    return true;
  }

  void set_activation(NodeDef& node, const Tail& t) {
    if (t.act.empty()) return;
    node.set_attr_string("__activation", t.act == "Relu" ? "Relu" : "Clip");
    if (t.act == "Clip") {
      node.set_attr_float("__clip_min", t.lo);
      node.set_attr_float("__clip_max", t.hi);
    }
  }

  // Records a fold: `node` replaces the pattern rooted at host index `h` and takes the place of the tail's Q (the
  // last node of the pattern, where every input is ready). `dq_reads` lists the DQ outputs the pattern consumed (one
  // entry per input slot that read one).
  void commit(size_t h, NodeDef node, const std::vector<size_t>& absorbed, const std::vector<std::string>& dq_reads) {
    const NodeDef& host = g_.nodes[h];
    node.name = host.name;
    node.fused_from = {host.name};
    const std::string what = describe_op(node);
    size_t at = h;
    for (size_t a : absorbed) {
      const NodeDef& m = g_.nodes[a];
      node.fused_from.push_back(m.name);
      g_.fates[m.name] = {host.name, m.op_type + " folded into " + what};
      removed_[a] = true;
      at = std::max(at, a);
    }
    removed_[h] = true;
    for (const auto& v : dq_reads) {
      consumed_[v]++;
      if (!first_host_.count(v)) first_host_[v] = host.name;
    }
    out_->decisions[host.name] = {Precision::kInt8, ""};
    replaced_[at] = std::move(node);
  }

  // ---- patterns

  bool try_conv(size_t i, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    if (n.inputs.size() < 2) return (*why = "Conv has no weights", false);
    size_t xdq;
    std::string xq;
    ActQ xa;
    if (!act_in(n.inputs[0], &xdq, &xq, &xa, why)) return false;
    ConstDQ w;
    if (!const_dq(n.inputs[1], &w, why)) return false;
    if (!qlinear::is_q8(w.x->dtype()) || w.x->rank() < 3) return (*why = "its weights are not 8-bit", false);
    const int64_t M = w.x->dim(0);
    if (w.per_channel() && w.axis != 0) return (*why = "its weights are quantized along axis " +
                                                        std::to_string(w.axis) + ", not the output channels", false);
    Tail t;
    if (!follow_tail(i, true, &t, why)) return false;
    std::vector<std::string> dq_reads = {n.inputs[0], n.inputs[1]};
    std::string bias;
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      std::vector<double> target(static_cast<size_t>(M));
      for (int64_t m = 0; m < M; m++) target[size_t(m)] = double(xa.scale * w.s(m));
      if (!quantize_bias(n.inputs[2], target, M, 1.0, n.name, &bias, &dq_reads, why)) return false;
    }
    if (t.residual) dq_reads.push_back(t.r_value);
    NodeDef q;
    q.op_type = "QLinearConv";
    for (const auto& a : n.attrs) q.attrs.push_back(a);
    q.inputs = {xq, xa.scale_name, xa.zero_name, w.x_name, w.scale_name, w.zero_name, t.yq.scale_name, t.yq.zero_name,
                bias};
    if (t.residual) q.inputs.insert(q.inputs.end(), {t.r_q, t.rq.scale_name, t.rq.zero_name});
    q.outputs = {g_.nodes[t.q].outputs[0]};
    set_activation(q, t);
    commit(i, std::move(q), t.absorbed, dq_reads);
    return true;
  }

  // Bias input `v` (a DQ of int32, or a float constant) as int32 at the scale target[c] * `scale_mul`:
  // round-half-even(value / (target * scale_mul)), kept as it is when it already has that scale and zero point 0.
  bool quantize_bias(const std::string& v, const std::vector<double>& target, int64_t C, double value_mul,
                     const std::string& host, std::string* name, std::vector<std::string>* dq_reads,
                     std::string* why) {
    std::vector<double> value(static_cast<size_t>(C));
    const Tensor* f = constant(v);
    ConstDQ b;
    bool exact = false;
    std::string w;
    if (f && f->dtype() == DType::kFloat32) {
      if (f->numel() != C && f->numel() != 1) return (*why = "its bias has " + std::to_string(f->numel()) +
                                                             " values for " + std::to_string(C) + " channels", false);
      for (int64_t c = 0; c < C; c++) value[size_t(c)] = double(f->data<float>()[f->numel() == 1 ? 0 : c]);
    } else if (const_dq(v, &b, &w) && b.x->dtype() == DType::kInt32) {
      const int64_t nb = b.x->numel();
      if ((nb != C && nb != 1) || (b.scale->numel() != 1 && b.scale->numel() != nb))
        return (*why = "its bias has the shape " + dims_str(b.x->dims()), false);
      exact = value_mul == 1.0;
      for (int64_t c = 0; c < C; c++) {
        const int64_t k = nb == 1 ? 0 : c;
        const int64_t q = b.x->data<int32_t>()[k];
        const int64_t z = b.z(b.scale->numel() == 1 ? 0 : k);
        value[size_t(c)] = double(q - z) * double(b.s(b.scale->numel() == 1 ? 0 : k));
        exact = exact && z == 0 && double(b.s(b.scale->numel() == 1 ? 0 : k)) == target[size_t(c)];
      }
      dq_reads->push_back(v);
      if (exact && nb == C) {
        *name = b.x_name;
        return true;
      }
    } else {
      *why = "its bias is neither a float constant nor a DequantizeLinear of int32";
      return false;
    }
    Tensor q;
    Tensor::create(DType::kInt32, {C}, &q);
    for (int64_t c = 0; c < C; c++)
      q.data<int32_t>()[c] = saturate_i32(std::nearbyint(value[size_t(c)] * value_mul / target[size_t(c)]));
    *name = host + "::bias_int32";
    g_.constants[*name] = q;
    return true;
  }

  bool try_gemm(size_t i, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    if (n.attr_int("transA", 0) != 0) return (*why = "Gemm with transA = 1 has no quantized kernel", false);
    if (n.inputs.size() < 2) return (*why = "Gemm needs two inputs", false);
    const bool trans_b = n.attr_int("transB", 0) != 0;
    const float alpha = n.attr_float("alpha", 1.f), beta = n.attr_float("beta", 1.f);
    if (!std::isfinite(alpha) || !std::isfinite(beta) || alpha == 0.f)
      return (*why = "Gemm's alpha and beta must be finite, alpha non-zero", false);
    size_t adq;
    std::string aq;
    ActQ aa;
    if (!act_in(n.inputs[0], &adq, &aq, &aa, why)) return false;
    ConstDQ b;
    if (!const_dq(n.inputs[1], &b, why)) return false;
    if (!qlinear::is_q8(b.x->dtype()) || b.x->rank() != 2) return (*why = "its B is not an 8-bit matrix", false);
    const int64_t N = trans_b ? b.x->dim(0) : b.x->dim(1);
    if (b.per_channel() && b.axis != (trans_b ? 0 : 1))
      return (*why = "its B is quantized along axis " + std::to_string(b.axis) + ", not the output columns", false);
    Tail t;
    if (!follow_tail(i, false, &t, why)) return false;
    std::vector<std::string> dq_reads = {n.inputs[0], n.inputs[1]};
    std::string bias;
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor* cf = constant(n.inputs[2]);
      ConstDQ cd;
      std::string w;
      const Tensor* cx = cf ? cf : (const_dq(n.inputs[2], &cd, &w) ? cd.x : nullptr);
      if (cx && cx->numel() != 1 && !(cx->numel() == N && (cx->rank() == 1 || (cx->rank() == 2 && cx->dim(0) == 1))))
        return (*why = "its C has a shape other than one value per output column", false);
      std::vector<double> target(static_cast<size_t>(N));
      for (int64_t c = 0; c < N; c++) target[size_t(c)] = double(alpha) * double(aa.scale * b.s(c));
      if (alpha == 1.f)
        for (int64_t c = 0; c < N; c++) target[size_t(c)] = double(aa.scale * b.s(c));
      if (!quantize_bias(n.inputs[2], target, N, double(beta), n.name, &bias, &dq_reads, why)) return false;
    }
    NodeDef q;
    q.op_type = "QGemm";
    q.domain = "com.microsoft";
    if (trans_b) q.set_attr_int("transB", 1);
    if (alpha != 1.f) q.set_attr_float("alpha", alpha);
    q.inputs = {aq, aa.scale_name, aa.zero_name, b.x_name, b.scale_name, b.zero_name, bias, t.yq.scale_name,
                t.yq.zero_name};
    q.outputs = {g_.nodes[t.q].outputs[0]};
    set_activation(q, t);
    commit(i, std::move(q), t.absorbed, dq_reads);
    return true;
  }

  bool try_matmul(size_t i, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    if (n.inputs.size() != 2) return (*why = "MatMul needs two inputs", false);
    size_t adq;
    std::string aq;
    ActQ aa;
    if (!act_in(n.inputs[0], &adq, &aq, &aa, why)) return false;
    std::string bq, bscale, bzero;
    ConstDQ b;
    std::string w;
    if (const_dq(n.inputs[1], &b, &w)) {
      if (!qlinear::is_q8(b.x->dtype())) return (*why = "its B is not 8-bit", false);
      if (b.per_channel() && !(b.x->rank() == 2 && b.axis == 1))
        return (*why = "its B is quantized per axis other than the columns of a matrix", false);
      bq = b.x_name, bscale = b.scale_name, bzero = b.zero_name;
    } else {
      size_t bdq;
      ActQ ba;
      if (!act_in(n.inputs[1], &bdq, &bq, &ba, why)) return false;
      bscale = ba.scale_name, bzero = ba.zero_name;
    }
    Tail t;
    if (!follow_tail(i, false, &t, why)) return false;
    NodeDef q;
    q.op_type = "QLinearMatMul";
    q.inputs = {aq, aa.scale_name, aa.zero_name, bq, bscale, bzero, t.yq.scale_name, t.yq.zero_name};
    q.outputs = {g_.nodes[t.q].outputs[0]};
    set_activation(q, t);
    commit(i, std::move(q), t.absorbed, {n.inputs[0], n.inputs[1]});
    return true;
  }

  // An input of Add/Mul/Concat: a dequantized activation or a per-tensor dequantized 8-bit constant.
  bool operand(const std::string& v, std::string* xq, std::string* scale, std::string* zero, std::string* why) {
    size_t dq;
    ActQ a;
    std::string w;
    if (act_in(v, &dq, xq, &a, &w)) {
      *scale = a.scale_name, *zero = a.zero_name;
      return true;
    }
    ConstDQ c;
    if (const_dq(v, &c, why)) {
      if (!qlinear::is_q8(c.x->dtype()) || c.per_channel())
        return (*why = "'" + v + "' is not a per-tensor 8-bit quantized constant", false);
      *xq = c.x_name, *scale = c.scale_name, *zero = c.zero_name;
      return true;
    }
    *why = w;
    return false;
  }

  bool try_binary(size_t i, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    if (n.inputs.size() != 2) return (*why = n.op_type + " needs two inputs", false);
    std::string a, as, az, b, bs, bz;
    if (!operand(n.inputs[0], &a, &as, &az, why) || !operand(n.inputs[1], &b, &bs, &bz, why)) return false;
    Tail t;
    size_t qi;
    if (!single_q(n.outputs[0], &qi, &t.yq, why)) return false;
    NodeDef q;
    q.op_type = n.op_type == "Add" ? "QLinearAdd" : "QLinearMul";
    q.domain = "com.microsoft";
    q.inputs = {a, as, az, b, bs, bz, t.yq.scale_name, t.yq.zero_name};
    q.outputs = {g_.nodes[qi].outputs[0]};
    commit(i, std::move(q), {qi}, {n.inputs[0], n.inputs[1]});
    return true;
  }

  bool try_concat(size_t i, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    if (n.inputs.empty()) return (*why = "Concat has no inputs", false);
    NodeDef q;
    q.op_type = "QLinearConcat";
    q.domain = "com.microsoft";
    q.set_attr_int("axis", n.attr_int("axis", 0));
    q.inputs = {"", ""};
    for (const auto& in : n.inputs) {
      std::string x, s, z;
      if (in.empty() || !operand(in, &x, &s, &z, why)) {
        if (in.empty()) *why = "Concat has an empty input";
        return false;
      }
      q.inputs.insert(q.inputs.end(), {x, s, z});
    }
    size_t qi;
    ActQ yq;
    if (!single_q(n.outputs[0], &qi, &yq, why)) return false;
    q.inputs[0] = yq.scale_name;
    q.inputs[1] = yq.zero_name;
    q.outputs = {g_.nodes[qi].outputs[0]};
    commit(i, std::move(q), {qi}, n.inputs);
    return true;
  }

  bool try_avgpool(size_t i, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    size_t dq;
    std::string xq;
    ActQ xa;
    if (!act_in(n.inputs[0], &dq, &xq, &xa, why)) return false;
    size_t qi;
    ActQ yq;
    if (!single_q(n.outputs[0], &qi, &yq, why)) return false;
    NodeDef q;
    q.op_type = n.op_type == "AveragePool" ? "QLinearAveragePool" : "QLinearGlobalAveragePool";
    q.domain = "com.microsoft";
    if (n.op_type == "AveragePool") q.attrs = n.attrs;
    q.inputs = {xq, xa.scale_name, xa.zero_name, yq.scale_name, yq.zero_name};
    q.outputs = {g_.nodes[qi].outputs[0]};
    commit(i, std::move(q), {qi}, {n.inputs[0]});
    return true;
  }

  bool try_mover(size_t i, std::string* why) {
    const NodeDef& n = g_.nodes[i];
    size_t dq;
    std::string xq;
    ActQ xa;
    if (!act_in(n.inputs[0], &dq, &xq, &xa, why)) return false;
    // The other inputs are shapes, axes, starts and ends: constants, or int64 values computed at run time (a
    // Reshape to a shape built from Shape). A dequantized value there would be data the op mixes in: not this.
    for (size_t k = 1; k < n.inputs.size(); k++)
      if (!n.inputs[k].empty() && is_op(producer(n.inputs[k]), "DequantizeLinear"))
        return (*why = "its input '" + n.inputs[k] + "' is dequantized data", false);
    for (size_t o = 1; o < n.outputs.size(); o++)
      if (!n.outputs[o].empty()) return (*why = "its optional outputs are used", false);
    size_t qi;
    ActQ yq;
    if (!single_q(n.outputs[0], &qi, &yq, why)) return false;
    if (!yq.same(xa))
      return (*why = "the QuantizeLinear after it has other parameters than the DequantizeLinear before it", false);
    NodeDef q = n;
    q.domain = "int8rt";
    q.inputs[0] = xq;
    q.outputs = {g_.nodes[qi].outputs[0]};
    commit(i, std::move(q), {qi}, {n.inputs[0]});
    return true;
  }

  // A chain of elementwise nodes computing one function of one dequantized tensor, ending in one Q: a unary op, or
  // several ops whose inputs are the dequantized tensor itself, values of the chain and constants of one element
  // (hard-swish's x * Clip(x + 3, 0, 6) / 6). It becomes a 256-entry table: the float kernels run on the 256
  // dequantized input values, and their results are quantized as the QuantizeLinear would.
  Status try_lookup(size_t i, bool* done, std::string* why) {
    *done = false;
    constexpr size_t kMaxChain = 12;
    const NodeDef& entry = g_.nodes[i];
    size_t dq = kNone;
    std::string xq, d;
    ActQ xa;
    for (const auto& in : entry.inputs) {
      size_t p;
      std::string q, w;
      ActQ a;
      if (!in.empty() && act_in(in, &p, &q, &a, &w)) {
        dq = p, xq = q, xa = a, d = in;
        break;
      }
    }
    if (dq == kNone) {
      *why = "no input comes from a DequantizeLinear of an activation";
      return Status::OK();
    }
    auto elementwise = [&](const NodeDef& n) {
      return n.domain.empty() && (kUnaryOps.count(n.op_type) || kBinaryOps.count(n.op_type));
    };
    // Grow the chain from the entry node: readers of the chain's values join while every input they take is d, a
    // chain value or a one-element constant; the chain ends when its only value read from outside is read by one Q.
    std::vector<size_t> chain = {i};
    std::set<std::string> values;
    std::string exit_value;
    size_t qi = kNone;
    ActQ yq;
    auto fits = [&](const NodeDef& n) {
      if (!elementwise(n) || removed_[&n - g_.nodes.data()]) return false;
      for (size_t o = 1; o < n.outputs.size(); o++)
        if (!n.outputs[o].empty()) return false;
      for (const auto& in : n.inputs) {
        if (in.empty() || in == d || values.count(in)) continue;
        const Tensor* c = constant(in);
        if (!c || c->numel() != 1) return false;
      }
      return true;
    };
    if (!fits(entry)) {
      *why = entry.op_type + " takes an input that is neither the dequantized tensor nor a one-value constant";
      return Status::OK();
    }
    for (;;) {
      values.clear();
      for (size_t m : chain) values.insert(g_.nodes[m].outputs[0]);
      std::vector<std::string> open;  // chain values read outside the chain (or graph outputs)
      std::vector<size_t> joiners;
      for (const auto& v : values) {
        bool outside = g_.graph_outputs.count(v) > 0;
        auto rit = readers_.find(v);
        if (rit != readers_.end())
          for (const auto& r : rit->second) {
            if (std::find(chain.begin(), chain.end(), r.first) != chain.end()) continue;
            const NodeDef& rn = g_.nodes[r.first];
            if (fits(rn) && chain.size() < kMaxChain) {
              if (std::find(joiners.begin(), joiners.end(), r.first) == joiners.end()) joiners.push_back(r.first);
            } else {
              outside = true;
            }
          }
        if (outside) open.push_back(v);
      }
      if (!joiners.empty()) {
        // A node may join only once every chain value it reads is produced: the others join in a later round.
        for (size_t j : joiners) chain.push_back(j);
        std::sort(chain.begin(), chain.end());
        continue;
      }
      if (open.size() != 1) {
        *why = open.empty() ? "its result is not used" : "more than one of its values is read outside the elementwise chain";
        return Status::OK();
      }
      exit_value = open[0];
      if (!single_q(exit_value, &qi, &yq, why)) return Status::OK();
      break;
    }
    // The chain's nodes read d only through their own input slots: d's DQ must feed nothing else here.
    std::vector<std::string> dq_reads;
    for (size_t m : chain)
      for (const auto& in : g_.nodes[m].inputs)
        if (in == d) dq_reads.push_back(d);
    // Evaluate the chain on the 256 dequantized values.
    std::map<std::string, Tensor> val;
    Tensor xs;
    INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {256}, &xs));
    const int32_t zx = xa.type == DType::kUint8 ? xa.zero - 128 : xa.zero;
    for (int v = 0; v < 256; v++) xs.data<float>()[v] = float((v - 128) - zx) * xa.scale;
    val[d] = xs;
    ThreadPool pool(1);
    for (size_t m : chain) {
      const NodeDef& n = g_.nodes[m];
      const KernelDef* def = kernel_registry().find(n.op_type, "", g_.opset, Device::kCpu, Precision::kFp32, why);
      if (!def) return Status::OK();
      std::vector<const Tensor*> consts(n.inputs.size(), nullptr), ins(n.inputs.size(), nullptr);
      for (size_t k = 0; k < n.inputs.size(); k++) {
        if (n.inputs[k].empty()) continue;
        auto it = val.find(n.inputs[k]);
        if (it != val.end()) {
          ins[k] = &it->second;
        } else {
          consts[k] = constant(n.inputs[k]);
          ins[k] = consts[k];
        }
      }
      KernelInfo info(n, g_.opset, consts);
      std::unique_ptr<OpKernel> kernel;
      Status st = def->factory(info, &kernel);
      FoldContext ctx(n, ins, &pool);
      if (st.ok()) st = kernel->compute(ctx);
      if (!st.ok() || ctx.output(0).empty() || ctx.output(0).dtype() != DType::kFloat32 ||
          ctx.output(0).numel() != 256) {
        *why = n.op_type + "'s float kernel could not be tabulated" + (st.ok() ? std::string() : ": " + st.message());
        return Status::OK();
      }
      val[n.outputs[0]] = ctx.output(0);
    }
    const Tensor& f = val[exit_value];
    Tensor table;
    INT8RT_RETURN_IF_ERROR(Tensor::create(yq.type, {256}, &table));
    const float lo = yq.type == DType::kUint8 ? 0.f : -128.f, hi = yq.type == DType::kUint8 ? 255.f : 127.f;
    for (int v = 0; v < 256; v++) {
      float q = f.data<float>()[v] / yq.scale;
      const float qlo = lo - float(yq.zero), qhi = hi - float(yq.zero);
      q = q > qlo ? q : qlo;  // NaN -> the lowest value, as QuantizeLinear
      q = q < qhi ? q : qhi;
      const int32_t r = int32_t(std::nearbyint(q)) + yq.zero;
      if (yq.type == DType::kUint8)
        table.data<uint8_t>()[v] = uint8_t(r);
      else
        table.data<int8_t>()[v] = int8_t(r);
    }
    NodeDef q;
    q.op_type = "QLookup";
    q.domain = "int8rt";
    Attribute a;
    a.name = "table";
    a.type = Attribute::Type::kTensor;
    a.t = table;
    q.attrs.push_back(a);
    q.inputs = {xq};
    q.outputs = {g_.nodes[qi].outputs[0]};
    std::vector<size_t> absorbed(chain.begin() + 1, chain.end());
    absorbed.push_back(qi);
    // The host is the entry node; the others (and the Q) are folded into it.
    commit(i, std::move(q), absorbed, dq_reads);
    *done = true;
    return Status::OK();
  }

  // ---- what is left

  std::string float_reason(size_t i) const {
    auto it = why_float_.find(i);
    const std::string why = it != why_float_.end() ? it->second : "no quantized kernel for " + g_.nodes[i].op_type;
    return describe_op(g_.nodes[i]) + ", which stays float (" + why + ")";
  }

  void finish() {
    // DequantizeLinear nodes all of whose readers were folded go; the others stay as boundaries (activations) or are
    // left to constant folding (constants).
    for (size_t i = 0; i < g_.nodes.size(); i++) {
      const NodeDef& n = g_.nodes[i];
      if (removed_[i] || replaced_.count(i) || !n.domain.empty()) continue;
      if (n.op_type == "DequantizeLinear" && !n.outputs.empty()) {
        const std::string& v = n.outputs[0];
        auto rit = readers_.find(v);
        const size_t total = rit == readers_.end() ? 0 : rit->second.size();
        const size_t used = consumed_.count(v) ? size_t(consumed_[v]) : 0;
        if (used > 0 && used == total && !g_.graph_outputs.count(v)) {
          removed_[i] = true;
          g_.fates[n.name] = {first_host_[v], "DequantizeLinear folded into its readers"};
          continue;
        }
        if (n.inputs.empty() || constant(n.inputs[0])) continue;
        std::string why = "int8 to float: ";
        if (g_.graph_outputs.count(v)) {
          why += "its output '" + v + "' is a graph output";
        } else if (rit != readers_.end()) {
          for (const auto& r : rit->second)
            if (!removed_[r.first] && !replaced_.count(r.first)) {
              why += "read by " + float_reason(r.first);
              break;
            }
        }
        out_->boundaries[n.name] = why;
      } else if (n.op_type == "QuantizeLinear" && !n.inputs.empty()) {
        const size_t p = producer(n.inputs[0]);
        std::string why = "float to int8: ";
        if (p == kNone)
          why += constant(n.inputs[0]) ? "quantizes the constant '" + n.inputs[0] + "'"
                                       : "quantizes the graph input '" + n.inputs[0] + "'";
        else
          why += "quantizes the output of " + float_reason(p);
        out_->boundaries[n.name] = why;
      }
    }
    std::vector<NodeDef> nodes;
    for (size_t i = 0; i < g_.nodes.size(); i++) {
      auto r = replaced_.find(i);
      if (r != replaced_.end())
        nodes.push_back(std::move(r->second));
      else if (!removed_[i])
        nodes.push_back(std::move(g_.nodes[i]));
    }
    g_.nodes = std::move(nodes);
  }

  PassState& g_;
  QdqImport* out_;
  std::map<std::string, size_t> producer_;
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> readers_;  // value -> (node, input slot)
  std::vector<bool> removed_;
  std::map<size_t, NodeDef> replaced_;       // node index -> the quantized node written in its place
  std::map<std::string, int> consumed_;      // DQ output -> input slots of folded patterns that read it
  std::map<std::string, std::string> first_host_;
  std::map<size_t, std::string> why_float_;  // candidate node -> why it was not folded
};

}  // namespace

Status import_qdq(PassState& g, QdqImport* out) {
  Importer imp(g, out);
  return imp.run();
}

}  // namespace int8rt
