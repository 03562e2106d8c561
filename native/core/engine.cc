#include "core/engine.h"

#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <thread>

#include "core/dtype_infer.h"
#include "core/passes.h"
#include "cuda/exec.h"
#include "ops/cuda/cuda_ops.h"
#include "quant/qdq_import.h"

namespace int8rt {

size_t max_allocation_bytes() {
  static const size_t limit = [] {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return size_t(1) << 36;
    return size_t(pages) * size_t(page);
  }();
  return limit;
}

// glibc keeps freed heap memory mapped (the mmap threshold grows to the size of the largest block freed, so weight
// buffers of a few MB end up on the heap); after a build has freed the float weights it packed, that can be most of
// the model. malloc_trim hands the free pages back. Elsewhere the allocator decides by itself.
static void return_free_memory_to_system() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

static std::string node_label(const NodeDef& n, size_t index) {
  return n.name.empty() ? n.op_type + "_" + std::to_string(index) : n.name;
}

// ---------------------------------------------------------------------------------------------------------------
// Build

Status Engine::build(ModelDef model, const EngineOptions& options, std::shared_ptr<Engine>* out) {
  auto engine = std::shared_ptr<Engine>(new Engine());
  Engine& e = *engine;

  // Opsets: the default domain decides operator semantics.
  int opset = -1;
  for (const auto& kv : model.opsets)
    if (kv.first.empty() || kv.first == "ai.onnx") opset = int(kv.second);
  if (opset < 0) {
    for (const auto& n : model.nodes)
      if (n.domain.empty()) return Status(ErrorCode::kModel, "the model imports no opset for the default ONNX domain");
    opset = 21;  // no default-domain node: the number is never consulted
  }
  if (opset < 7 || opset > (qdq_only_model(model) ? kQdqOnlyMaxOpset : 22))
    return Status(ErrorCode::kOpset,
                  "the model uses ONNX opset " + std::to_string(opset) + "; int8rt supports opsets 7 to 22");

  // Names must be unique producers: a graph input, an initializer or exactly one node output.
  std::set<std::string> known;
  std::map<std::string, size_t> producer;
  for (const auto& in : model.inputs) {
    if (in.name.empty()) return Status(ErrorCode::kModel, "a graph input has an empty name");
    if (!known.insert(in.name).second) return Status(ErrorCode::kModel, "graph input '" + in.name + "' is declared twice");
  }
  PassState g;
  g.opset = opset;
  for (auto& kv : model.initializers) {
    if (g.constants.count(kv.first)) return Status(ErrorCode::kModel, "initializer '" + kv.first + "' is declared twice");
    known.insert(kv.first);
    g.constants[kv.first] = kv.second;
  }
  for (size_t i = 0; i < model.nodes.size(); i++) {
    NodeDef& n = model.nodes[i];
    if (n.name.empty()) n.name = node_label(n, i);
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      if (known.count(o) || producer.count(o))
        return Status(ErrorCode::kModel, n.describe() + " writes '" + o + "', which is already defined elsewhere");
      producer[o] = i;
    }
  }
  // Kahn's algorithm; inputs must be defined somewhere.
  std::vector<int> pending(model.nodes.size(), 0);
  std::vector<std::vector<size_t>> readers(model.nodes.size());
  for (size_t i = 0; i < model.nodes.size(); i++) {
    for (const auto& in : model.nodes[i].inputs) {
      if (in.empty() || known.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return Status(ErrorCode::kModel, model.nodes[i].describe() + " reads '" + in +
                                             "', which is not a graph input, an initializer or any node's output");
      pending[i]++;
      readers[it->second].push_back(i);
    }
  }
  std::vector<size_t> order, ready;
  for (size_t i = 0; i < model.nodes.size(); i++)
    if (pending[i] == 0) ready.push_back(i);
  // Keep the file's order among ready nodes (stable), which keeps reports readable.
  std::reverse(ready.begin(), ready.end());
  while (!ready.empty()) {
    size_t i = ready.back();
    ready.pop_back();
    order.push_back(i);
    std::vector<size_t> now;
    for (size_t r : readers[i])
      if (--pending[r] == 0) now.push_back(r);
    std::sort(now.rbegin(), now.rend());
    ready.insert(ready.end(), now.begin(), now.end());
    std::sort(ready.rbegin(), ready.rend());
  }
  if (order.size() != model.nodes.size()) {
    for (size_t i = 0; i < model.nodes.size(); i++)
      if (pending[i] > 0)
        return Status(ErrorCode::kCycle, "the graph has a cycle through " + model.nodes[i].describe());
  }
  for (const auto& o : model.outputs) {
    if (!known.count(o.name) && !producer.count(o.name))
      return Status(ErrorCode::kModel, "graph output '" + o.name + "' is not produced by any node");
    g.graph_outputs.insert(o.name);
  }
  for (size_t i : order) g.nodes.push_back(std::move(model.nodes[i]));
  std::vector<NodeDef> original_nodes = g.nodes;  // for the report (attributes are small)
  for (const auto& kv : options.quant.node_precision) {
    bool found = false;
    for (const auto& n : original_nodes) found |= n.name == kv.first;
    if (!found)
      return Status(ErrorCode::kInvalidArgument,
                    "nodePrecision names node '" + kv.first + "', which the model does not have");
    if (kv.second == Precision::kInt8 && options.precision != Precision::kInt8)
      return Status(ErrorCode::kInvalidArgument, "nodePrecision pins node '" + kv.first +
                                                     "' to int8, which needs precision 'int8' and a calibration");
  }

  // Passes. Models quantized elsewhere first: their QDQ patterns become int8 nodes (quant/qdq_import.h).
  QdqImport qdq;
  INT8RT_RETURN_IF_ERROR(import_qdq(g, &qdq));
  INT8RT_RETURN_IF_ERROR(fold_constants(g));
  INT8RT_RETURN_IF_ERROR(fold_batchnorm(g));
  INT8RT_RETURN_IF_ERROR(fold_conv_bias_add(g));
  bool int8 = options.precision == Precision::kInt8;
  if (options.fuse_epilogues) INT8RT_RETURN_IF_ERROR(fuse_conv_epilogue(g, /*clamp_only=*/int8));
  std::map<std::string, NodeDecision> decisions;
  if (int8 && options.dynamic_int8)
    INT8RT_RETURN_IF_ERROR(plan_dynamic_int8(g, options.quant, &decisions));
  else if (int8)
    INT8RT_RETURN_IF_ERROR(quantize_graph(g, options.quant, &decisions));
  for (const auto& kv : qdq.decisions) decisions[kv.first] = kv.second;

  // Value ids.
  std::map<std::string, int> ids;
  auto id_of = [&](const std::string& name) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    int id = int(e.value_names_.size());
    e.value_names_.push_back(name);
    ids[name] = id;
    return id;
  };
  e.inputs_ = model.inputs;
  e.outputs_ = model.outputs;
  for (const auto& in : e.inputs_) e.input_ids_.push_back(id_of(in.name));
  const KernelRegistry& reg = kernel_registry();
  std::unique_ptr<cuda::BuildContext> cuda_build;
  std::set<std::string> on_device;  // values the CUDA steps placed so far produce
  std::map<std::string, DType> value_dtypes;  // element types known at build (core/dtype_infer.h), for the CUDA factories
  if (options.cuda_device) {
    for (const auto& in : model.inputs) value_dtypes[in.name] = in.dtype;
    for (const auto& c : g.constants) value_dtypes[c.first] = c.second.dtype();
  }
  if (options.cuda_device) {
    e.cuda_device_ = options.cuda_device;
    e.cuda_weights_ = std::make_unique<cuda::WeightArena>(options.cuda_device);
    cuda_build = std::make_unique<cuda::BuildContext>();
    cuda_build->device = options.cuda_device;
    cuda_build->weights = e.cuda_weights_.get();
    cuda_build->gemm_path = cuda::default_qgemm_path(options.cuda_device->info());
  }
  for (auto& n : g.nodes) {
    Step s;
    std::vector<const Tensor*> consts;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        s.inputs.push_back(-1);
        consts.push_back(nullptr);
        continue;
      }
      s.inputs.push_back(id_of(in));
      auto c = g.constants.find(in);
      consts.push_back(c == g.constants.end() ? nullptr : &c->second);
    }
    for (const auto& o : n.outputs) s.outputs.push_back(o.empty() ? -1 : id_of(o));
    std::string why;
    auto dec = decisions.find(n.name);
    Precision prec = dec == decisions.end() ? Precision::kFp32 : dec->second.precision;
    // Boundaries the int8 planner inserted follow today's QuantizeLinear/DequantizeLinear, whatever the model's opset.
    int node_opset = n.attr_int("__boundary", 0) ? 21 : opset;
    // On a CUDA engine a node runs on the device when it has a CUDA kernel for its precision that takes it;
    // otherwise on the CPU, with the reason for the report.
    if (cuda_build) {
      std::vector<DType>& in_dt = cuda_build->input_dtypes;
      in_dt.clear();
      for (const auto& in : n.inputs) {
        auto it = in.empty() ? value_dtypes.end() : value_dtypes.find(in);
        in_dt.push_back(it == value_dtypes.end() ? DType::kUndefined : it->second);
      }
      for (size_t o = 0; o < n.outputs.size(); o++)
        if (!n.outputs[o].empty()) value_dtypes[n.outputs[o]] = infer_output_dtype(n, in_dt, o);
      const KernelDef* cdef = reg.find(n.op_type, n.domain, node_opset, Device::kCuda, prec, nullptr);
      if (!cdef) {
        s.device_reason = std::string("no CUDA kernel for ") + (n.domain.empty() ? "" : n.domain + ".") + n.op_type +
                          " in " + precision_name(prec);
      } else if (cdef->follows_input &&
                 std::none_of(n.inputs.begin(), n.inputs.end(),
                              [&](const std::string& in) { return !in.empty() && on_device.count(in) > 0; })) {
        s.device_reason = "runs where its input is (a copy would cost as much as the operator), and '" +
                          (n.inputs.empty() ? "" : n.inputs[0]) + "' is on the CPU";
      } else {
        KernelInfo cinfo(n, node_opset, consts, cuda_build.get());
        Status cst = cdef->factory(cinfo, &s.kernel);
        if (cst.ok()) {
          for (const auto& o : n.outputs) on_device.insert(o);
          s.device = Device::kCuda;
          s.kernel_name = s.kernel->kernel_name();
          if (s.kernel_name.empty()) s.kernel_name = cdef->name;
          s.precision = prec;
          s.node = std::move(n);
          e.steps_.push_back(std::move(s));
          continue;
        }
        if (cst.code() != ErrorCode::kUnsupported) {
          if (cst.message().find(n.name) == std::string::npos)
            return Status(cst.code(), n.describe() + ": " + cst.message());
          return cst;
        }
        s.device_reason = cst.message();
        s.kernel.reset();
      }
    }
    const KernelDef* def = reg.find(n.op_type, n.domain, node_opset, Device::kCpu, prec, &why);
    if (!def) {
      return Status(ErrorCode::kUnsupportedOp, "unsupported operator: " + why + " (" + n.describe() + ")");
    }
    const bool fp16_candidate = options.fp16_weights && prec == Precision::kFp32 && consts.size() > 1 &&
                                consts[1] != nullptr && n.domain.empty() &&
                                (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" ||
                                 n.op_type == "MatMul");
    if (fp16_candidate) n.set_attr_int("__fp16_weights", 1);
    KernelInfo info(n, node_opset, consts);
    Status st = def->factory(info, &s.kernel);
    if (!st.ok()) {
      if (st.message().find(n.name) == std::string::npos)
        return Status(st.code(), n.describe() + ": " + st.message());
      return st;
    }
    s.kernel_name = s.kernel->kernel_name();
    if (s.kernel_name.empty()) s.kernel_name = def->name;
    // The kernels name half-weight packings "..._fp16w_..."; a node they kept in float32 (depthwise) stays fp32.
    if (fp16_candidate && s.kernel_name.find("_fp16w_") != std::string::npos) prec = Precision::kFp16;
    s.precision = prec;
    s.node = std::move(n);
    e.steps_.push_back(std::move(s));
  }
  for (const auto& o : e.outputs_) e.output_ids_.push_back(id_of(o.name));
  e.constants_.resize(e.value_names_.size());
  e.is_constant_.assign(e.value_names_.size(), false);
  for (size_t id = 0; id < e.value_names_.size(); id++) {
    auto c = g.constants.find(e.value_names_[id]);
    if (c == g.constants.end()) continue;
    e.constants_[id] = c->second;
    e.is_constant_[id] = true;
  }
  if (e.cuda_device_) {
    INT8RT_RETURN_IF_ERROR(e.place_on_cuda_copies());
    INT8RT_RETURN_IF_ERROR(e.cuda_weights_->commit());
  }
  e.release_unread_constants(options.release_constants);
  // Lifetimes: a value is released after its last reader, unless it is a graph output or a constant.
  std::vector<int> last(e.value_names_.size(), -1);
  for (size_t si = 0; si < e.steps_.size(); si++)
    for (int id : e.steps_[si].inputs)
      if (id >= 0) last[id] = int(si);
  std::set<int> keep(e.output_ids_.begin(), e.output_ids_.end());
  for (size_t id = 0; id < last.size(); id++) {
    if (last[id] < 0 || keep.count(int(id)) || e.is_constant_[id]) continue;
    e.steps_[last[id]].release.push_back(int(id));
  }
  // Outputs nobody reads are released right after their step.
  for (size_t si = 0; si < e.steps_.size(); si++)
    for (int id : e.steps_[si].outputs)
      if (id >= 0 && last[id] < 0 && !keep.count(id)) e.steps_[si].release.push_back(id);

  // Report: one row per original ONNX node.
  std::map<std::string, const Step*> by_name;
  for (const auto& s : e.steps_) by_name[s.node.name] = &s;
  for (const auto& n : original_nodes) {
    NodeReport r;
    r.name = n.name;
    r.op_type = n.op_type;
    r.device = "cpu";
    r.precision = "fp32";
    auto f = g.fates.find(n.name);
    auto s = by_name.find(n.name);
    std::string host_name = n.name;
    if (s != by_name.end()) {
      r.kernel = s->second->kernel_name;
      r.precision = precision_name(s->second->precision);
      r.device = device_name(s->second->device);
      r.device_reason = s->second->device_reason;
      const NodeDef& sn = s->second->node;
      const std::vector<float> in_s = sn.attr_floats("__in_scales"), out_s = sn.attr_floats("__out_scales");
      auto onnx_name = [](const std::string& v) {  // the planner's int8 values are '<tensor>::q'
        return v.size() > 3 && v.compare(v.size() - 3, 3, "::q") == 0 ? v.substr(0, v.size() - 3) : v;
      };
      for (size_t i = 0; i < in_s.size() && i < sn.inputs.size(); i++)
        if (in_s[i] > 0.f && !sn.inputs[i].empty()) r.int8_scales.push_back({onnx_name(sn.inputs[i]), in_s[i]});
      for (size_t i = 0; i < out_s.size() && i < sn.outputs.size(); i++)
        if (out_s[i] > 0.f && !sn.outputs[i].empty()) r.int8_scales.push_back({onnx_name(sn.outputs[i]), out_s[i]});
    } else if (f != g.fates.end()) {
      r.fused_into = f->second.fused_into;
      r.note = f->second.note;
      host_name = r.fused_into;
      auto host = by_name.find(r.fused_into);
      if (host != by_name.end()) {
        r.kernel = host->second->kernel_name;
        r.precision = precision_name(host->second->precision);
        r.device = device_name(host->second->device);
        r.device_reason = host->second->device_reason;
      } else if (e.cuda_device_) {
        r.device_reason = "folded away at build: nothing runs";
      }
    }
    auto dec = decisions.find(host_name);
    if (int8 && dec != decisions.end() && r.precision != std::string("int8")) r.reason = dec->second.reason;
    auto qb = qdq.boundaries.find(n.name);  // a Q/DQ of the model's own that could not be folded
    if (qb != qdq.boundaries.end() && r.fused_into.empty()) {
      r.boundary = true;
      r.reason = qb->second;
    }
    e.report_.push_back(std::move(r));
  }
  for (const auto& st : e.steps_) {
    if (st.kind != StepKind::kKernel) {  // a copy between host and device memory
      NodeReport r;
      r.name = st.node.name;
      r.op_type = st.node.op_type;
      r.device = "cuda";
      r.precision = precision_name(st.precision);
      r.kernel = st.kernel_name;
      r.boundary = true;
      r.note = st.kind == StepKind::kToDevice ? "device boundary: copy of '" + st.node.inputs[0] + "' to the GPU"
                                              : "device boundary: copy of '" + st.node.inputs[0] + "' to the host";
      e.report_.push_back(std::move(r));
      continue;
    }
    if (st.node.op_type != "QuantizeLinear" && st.node.op_type != "DequantizeLinear") continue;
    auto dec = decisions.find(st.node.name);
    if (dec == decisions.end() || dec->second.reason != "precision boundary") continue;
    NodeReport r;
    r.name = st.node.name;
    r.op_type = st.node.op_type;
    r.device = device_name(st.device);
    r.device_reason = st.device_reason;
    r.precision = "fp32";
    r.kernel = st.kernel_name;
    r.boundary = true;
    r.note = st.node.op_type == "QuantizeLinear" ? "precision boundary: float to int8"
                                                 : "precision boundary: int8 to float";
    e.report_.push_back(std::move(r));
  }

  // The build's own references to the model's tensors (initializers, folded constants, Constant nodes' values) go
  // now, so that the constants released above are actually freed, and the freed pages go back to the system.
  g.constants.clear();
  g.nodes.clear();
  model.initializers.clear();
  original_nodes.clear();
  return_free_memory_to_system();

  int threads = options.intra_op_threads;
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  e.pool_ = std::make_unique<ThreadPool>(threads);
  *out = std::move(engine);
  return Status::OK();
}

Engine::~Engine() = default;

size_t Engine::cuda_weight_bytes() const { return cuda_weights_ ? cuda_weights_->bytes() : 0; }
size_t Engine::cuda_steps() const { return cuda_steps_; }

// CUDA placement, after every step has its kernel. A value lives where its producer ran (graph inputs and constants
// on the host; device kernels take their constant inputs from the host, as weights at build or as shape data). A step
// that reads a value from the other side gets a copy: one per value and direction, made right before the first step
// that needs it, and read by every later one. Graph outputs made on the device are copied to the host at the end.
// The copies are steps of their own (MemcpyToDevice / MemcpyToHost), so they show in the report and the profile.
Status Engine::place_on_cuda_copies() {
  std::vector<Device> where(value_names_.size(), Device::kCpu);
  std::vector<Precision> precision(value_names_.size(), Precision::kFp32);
  std::map<int, int> to_device, to_host;  // value id -> id of its copy
  std::vector<Step> placed;
  auto copy_of = [&](int id, Device dest) -> int {
    std::map<int, int>& cache = dest == Device::kCuda ? to_device : to_host;
    auto it = cache.find(id);
    if (it != cache.end()) return it->second;
    const bool down = dest == Device::kCuda;
    const int cid = int(value_names_.size());
    value_names_.push_back(value_names_[size_t(id)] + (down ? "::cuda" : "::host"));
    where.push_back(dest);
    precision.push_back(precision[size_t(id)]);
    Step c;
    c.kind = down ? StepKind::kToDevice : StepKind::kToHost;
    c.node.name = value_names_[size_t(id)] + (down ? "::to_cuda" : "::to_host");
    c.node.op_type = down ? "MemcpyToDevice" : "MemcpyToHost";
    c.node.inputs = {value_names_[size_t(id)]};
    c.node.outputs = {value_names_[size_t(cid)]};
    c.inputs = {id};
    c.outputs = {cid};
    c.kernel = down ? cudaops::make_copy_to_device() : cudaops::make_copy_to_host();
    c.kernel_name = c.kernel->kernel_name();
    c.device = Device::kCuda;
    c.precision = precision[size_t(id)];
    placed.push_back(std::move(c));
    cache.emplace(id, cid);
    return cid;
  };
  for (Step& s : steps_) {
    if (s.device == Device::kCuda) cuda_steps_++;
    for (size_t j = 0; j < s.inputs.size(); j++) {
      int& id = s.inputs[j];
      if (id < 0 || is_constant_[size_t(id)]) continue;
      // A CPU kernel that reads only an input's dims (Shape, Size) takes it where it is, device memory included.
      if (s.device == Device::kCpu && !s.kernel->reads_input_data(j)) continue;
      const Device want = s.device == Device::kCuda && s.kernel->input_on_host(j) ? Device::kCpu : s.device;
      if (where[size_t(id)] != want) id = copy_of(id, want);
    }
    for (int id : s.outputs)
      if (id >= 0) {
        where[size_t(id)] = s.device;
        precision[size_t(id)] = s.precision;
      }
    placed.push_back(std::move(s));
  }
  steps_ = std::move(placed);
  for (int& id : output_ids_)
    if (where[size_t(id)] == Device::kCuda) {
      const int cid = copy_of(id, Device::kCpu);
      // Keep the copy after every step (copy_of appended it to `placed`, which is gone now).
      steps_.push_back(std::move(placed.back()));
      placed.pop_back();
      id = cid;
    }
  constants_.resize(value_names_.size());
  is_constant_.resize(value_names_.size(), false);
  return Status::OK();
}

// Frees the constants whose data no kernel reads at run time and measures what the engine keeps for the weights.
// A constant stays when any step reads its data (OpKernel::reads_input_data) or when it is a graph output (run()
// copies it out). A released constant keeps its dtype and dims, which kernels and the MAC count still consult.
// Constants may share one buffer (views made by constant folding); a buffer is counted once, and is only freed
// when no kept constant views it.
void Engine::release_unread_constants(bool release) {
  std::vector<bool> read(constants_.size(), false);
  for (const Step& s : steps_)
    for (size_t j = 0; j < s.inputs.size(); j++)
      if (s.inputs[j] >= 0 && s.kernel->reads_input_data(j)) read[size_t(s.inputs[j])] = true;
  for (int id : output_ids_) read[size_t(id)] = true;

  std::map<const Buffer*, size_t> kept, dropped;
  for (size_t id = 0; id < constants_.size(); id++) {
    if (!is_constant_[id]) continue;
    const Tensor& t = constants_[id];
    const bool keep = read[id] || !release;
    if (t.buffer()) (keep ? kept : dropped)[t.buffer().get()] = t.buffer()->size();
    if (!keep) constants_[id] = Tensor(t.dtype(), t.dims(), nullptr);
  }
  memory_ = EngineMemory();
  for (const auto& kv : kept) memory_.constants += kv.second;
  for (const auto& kv : dropped)
    if (!kept.count(kv.first)) memory_.released += kv.second;
  for (const Step& s : steps_) memory_.packed += s.kernel->weight_bytes();
}

// ---------------------------------------------------------------------------------------------------------------
// Run

namespace {

class RunContext : public OpContext {
 public:
  RunContext(const NodeDef& node, std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs,
             std::vector<bool> output_is_graph_output, RunArena* arena, ThreadPool* pool)
      : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)),
        graph_output_(std::move(output_is_graph_output)), arena_(arena), pool_(pool) {}
  // A step that uses the device: its outputs (and scratch) go to device memory when `device_outputs`.
  void use_cuda(const cuda::ExecContext* cuda, bool device_outputs) {
    cuda_ = cuda;
    device_outputs_ = device_outputs;
  }
  const cuda::ExecContext* cuda() const override { return cuda_; }
  const NodeDef& node() const override { return node_; }
  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return outputs_.size(); }
  bool output_used(size_t i) const override { return i < outputs_.size() && outputs_[i] != nullptr; }
  Status allocate_output(size_t i, DType dtype, const Dims& dims, Tensor** out) override {
    int64_t n = dims_numel(dims);
    size_t es = dtype_size(dtype);
    if (n < 0 || es == 0 || size_t(n) > max_allocation_bytes() / es)
      return Status(ErrorCode::kTooLarge, node_.describe() + ": output " + std::to_string(i) + " of shape " +
                                              dims_str(dims) + " would need more memory than this machine has");
    size_t bytes = size_t(n) * es;
    std::shared_ptr<Buffer> buf;
    if (device_outputs_)
      INT8RT_RETURN_IF_ERROR(cuda_->run->take(bytes, &buf));
    else
      buf = (i < graph_output_.size() && graph_output_[i]) || !outputs_[i] ? Buffer::allocate(bytes)
                                                                            : arena_->take(bytes);
    if (!buf)
      return Status(ErrorCode::kOutOfMemory,
                    node_.describe() + ": cannot allocate " + std::to_string(bytes) + " bytes for output " + std::to_string(i));
    Tensor t(dtype, dims, std::move(buf));
    if (i >= outputs_.size()) return Status(ErrorCode::kInternal, node_.describe() + ": no output " + std::to_string(i));
    if (outputs_[i]) {
      *outputs_[i] = std::move(t);
      *out = outputs_[i];
    } else {  // an output nobody reads: still give the kernel somewhere to write
      unused_.push_back(std::move(t));
      *out = &unused_.back();
    }
    return Status::OK();
  }
  void set_output(size_t i, const Tensor& t) override {
    if (i < outputs_.size() && outputs_[i]) *outputs_[i] = t;
  }
  Status scratch(size_t bytes, void** out) override {
    std::shared_ptr<Buffer> b;
    if (device_outputs_)
      INT8RT_RETURN_IF_ERROR(cuda_->run->take(bytes, &b));
    else
      b = arena_->take(bytes);
    if (!b) return Status(ErrorCode::kOutOfMemory, node_.describe() + ": cannot allocate scratch memory");
    *out = b->data();
    scratch_.push_back(std::move(b));
    return Status::OK();
  }
  ThreadPool* pool() const override { return pool_; }
  const Tensor* output_tensor(size_t i) const { return i < outputs_.size() ? outputs_[i] : nullptr; }

 private:
  const NodeDef& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
  std::vector<bool> graph_output_;
  std::deque<Tensor> unused_;
  std::vector<std::shared_ptr<Buffer>> scratch_;
  RunArena* arena_;
  ThreadPool* pool_;
  const cuda::ExecContext* cuda_ = nullptr;
  bool device_outputs_ = false;
};

// CUDA events around one device step, for profiled runs: start() records on the run's stream, stop() records
// again, waits, and gives the elapsed time. Inactive (and free) without a profiler or without a device.
class GpuTimer {
 public:
  GpuTimer(const cuda::Device* device, cuda::RunResources* run) : device_(device), run_(run) {}
  ~GpuTimer() { release(); }
  bool active() const { return device_ != nullptr; }
  Status start() {
    if (!begin_) INT8RT_RETURN_IF_ERROR(device_->create_event(&begin_));
    if (!end_) INT8RT_RETURN_IF_ERROR(device_->create_event(&end_));
    return device_->record_event(begin_, run_->stream());
  }
  Status stop(int64_t* ns) {
    INT8RT_RETURN_IF_ERROR(device_->record_event(end_, run_->stream()));
    float ms = 0.f;
    INT8RT_RETURN_IF_ERROR(device_->elapsed_ms(begin_, end_, &ms));
    *ns = int64_t(double(ms) * 1e6);
    return Status::OK();
  }
  void release() {
    if (!device_) return;
    device_->destroy_event(begin_);
    device_->destroy_event(end_);
    begin_ = end_ = nullptr;
  }

 private:
  const cuda::Device* device_;
  cuda::RunResources* run_;
  cuda::CUevent begin_ = nullptr, end_ = nullptr;
};

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Multiply-accumulates of one executed node, from its actual shapes.
double step_macs(RunContext& ctx) {
  const std::string& op = ctx.node().op_type;
  // The quantized operators count as their float counterparts (their weights are input 3).
  const bool qconv = op == "QLinearConv" || op == "ConvInteger";
  const bool qmatmul = op == "QLinearMatMul" || op == "QGemm" || op == "MatMulInteger";
  const size_t wi = op == "QLinearConv" || op == "QLinearMatMul" || op == "QGemm" ? 3 : 1;
  const Tensor* x = ctx.input(0);
  const Tensor* w = ctx.num_inputs() > wi ? ctx.input(wi) : nullptr;
  if (!x || !w) return 0;
  if (op == "Conv" || op == "ConvTranspose" || qconv) {
    // Every weight element meets every output position once per image: N * W.numel * prod(out spatial) / (C_out
    // for Conv's [C_out, C_in/g, k..] weights; ConvTranspose reads every input position instead).
    const Tensor* y = ctx.output_tensor(0);
    if (!y || y->rank() < 3 || w->rank() < 3) return 0;
    double spatial = 1;
    const Tensor* ref = op == "ConvTranspose" ? x : y;
    for (size_t d = 2; d < ref->rank(); d++) spatial *= double(ref->dim(d));
    return double(x->dim(0)) * double(w->numel()) * spatial;
  }
  if (op == "Gemm" || op == "MatMul" || qmatmul) {
    const Tensor* y = ctx.output_tensor(0);
    if (!y || y->rank() < 1) return 0;
    int64_t k = ctx.node().op_type == "Gemm" && ctx.node().attr_int("transA", 0) ? x->dim(0) : x->dims().back();
    return double(y->numel()) * double(k);
  }
  return 0;
}

}  // namespace

Status Engine::check_feed(const ValueInfo& info, const Tensor& t) const {
  if (info.dtype != DType::kUndefined && t.dtype() != info.dtype)
    return Status(ErrorCode::kDtype, std::string("input '") + info.name + "' must be " + dtype_name(info.dtype) +
                                         ", got " + dtype_name(t.dtype()));
  if (info.has_shape) {
    if (t.rank() != info.dims.size())
      return Status(ErrorCode::kShape, "input '" + info.name + "' must have rank " + std::to_string(info.dims.size()) +
                                           ", got shape " + dims_str(t.dims()));
    for (size_t d = 0; d < info.dims.size(); d++)
      if (info.dims[d] >= 0 && info.dims[d] != t.dims()[d])
        return Status(ErrorCode::kShape, "input '" + info.name + "' dim " + std::to_string(d) + " must be " +
                                             std::to_string(info.dims[d]) + ", got shape " + dims_str(t.dims()));
  }
  return Status::OK();
}

Status Engine::run(const std::vector<std::pair<std::string, Tensor>>& feeds, std::vector<Tensor>* outputs,
                   RunObserver* observer, StepProfiler* profiler) const {
  std::vector<Tensor> values(value_names_.size());
  std::vector<bool> fed(inputs_.size(), false);
  for (const auto& f : feeds) {
    size_t k = 0;
    while (k < inputs_.size() && inputs_[k].name != f.first) k++;
    if (k == inputs_.size()) {
      std::string names;
      for (const auto& in : inputs_) names += (names.empty() ? "'" : ", '") + in.name + "'";
      return Status(ErrorCode::kInputName, "unknown input '" + f.first + "'; the model's inputs are " + names);
    }
    if (fed[k]) return Status(ErrorCode::kInputName, "input '" + f.first + "' is given twice");
    INT8RT_RETURN_IF_ERROR(check_feed(inputs_[k], f.second));
    fed[k] = true;
    values[input_ids_[k]] = f.second;
  }
  for (size_t k = 0; k < inputs_.size(); k++)
    if (!fed[k]) return Status(ErrorCode::kMissingInput, "input '" + inputs_[k].name + "' is missing");
  if (observer)
    for (size_t k = 0; k < inputs_.size(); k++)
      if (values[input_ids_[k]].dtype() == DType::kFloat32) observer->on_value(inputs_[k].name, values[input_ids_[k]]);

  std::unique_ptr<RunArena> arena;
  {
    std::lock_guard<std::mutex> lk(arena_mu_);
    if (!idle_arenas_.empty()) {
      arena = std::move(idle_arenas_.back());
      idle_arenas_.pop_back();
    }
  }
  if (!arena) arena = std::make_unique<RunArena>();
  std::unique_ptr<cuda::RunResources> gpu;
  if (cuda_steps_) {
    {
      std::lock_guard<std::mutex> lk(arena_mu_);
      if (!idle_cuda_.empty()) {
        gpu = std::move(idle_cuda_.back());
        idle_cuda_.pop_back();
      }
    }
    if (!gpu) {
      Status st = cuda::RunResources::create(cuda_device_, &gpu);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lk(arena_mu_);
        idle_arenas_.push_back(std::move(arena));
        return st;
      }
    }
  }
  cuda::ExecContext gpu_ctx;
  if (gpu) {
    gpu_ctx.device = cuda_device_.get();
    gpu_ctx.run = gpu.get();
  }
  GpuTimer timer(profiler && gpu ? cuda_device_.get() : nullptr, gpu.get());

  std::vector<bool> is_output(value_names_.size(), false);
  for (int id : output_ids_) is_output[id] = true;

  Status status;
  double macs_total = 0, macs_int8 = 0;
  for (const Step& s : steps_) {
    const int64_t step_begin = profiler ? steady_now_ns() : 0;
    std::vector<const Tensor*> ins;
    ins.reserve(s.inputs.size());
    for (int id : s.inputs) {
      if (id < 0) {
        ins.push_back(nullptr);
      } else if (is_constant_[id]) {
        ins.push_back(&constants_[id]);
      } else {
        ins.push_back(&values[id]);
      }
    }
    std::vector<Tensor*> outs;
    std::vector<bool> graph_out;
    for (int id : s.outputs) {
      outs.push_back(id < 0 ? nullptr : &values[id]);
      graph_out.push_back(id >= 0 && is_output[id]);
    }
    RunContext ctx(s.node, std::move(ins), std::move(outs), std::move(graph_out), arena.get(), pool_.get());
    const bool on_gpu = s.device == Device::kCuda;
    if (on_gpu) ctx.use_cuda(&gpu_ctx, s.kind != StepKind::kToHost);
    if (on_gpu && timer.active()) status = timer.start();
    if (status.ok()) status = s.kernel->compute(ctx);
    int64_t gpu_ns = -1;
    if (on_gpu && timer.active() && status.ok()) status = timer.stop(&gpu_ns);
    double m = 0;
    if (status.ok()) {
      m = step_macs(ctx);
      macs_total += m;
      if (s.precision == Precision::kInt8) macs_int8 += m;
    }
    if (!status.ok()) {
      if (status.message().find(s.node.name) == std::string::npos)
        status = Status(status.code(), s.node.describe() + ": " + status.message());
      break;
    }
    for (size_t i = 0; i < s.outputs.size(); i++)
      if (s.outputs[i] >= 0 && values[s.outputs[i]].empty()) {
        status = Status(ErrorCode::kInternal, s.node.describe() + " did not produce output " + std::to_string(i));
        break;
      }
    if (!status.ok()) break;
    if (profiler) {
      // A device step is timed by CUDA events around its work on the stream (the profiler synchronizes per step).
      const int64_t step_end = gpu_ns >= 0 ? step_begin + gpu_ns : steady_now_ns();
      std::vector<const Tensor*> pin, pout;
      for (int id : s.inputs) pin.push_back(id < 0 ? nullptr : is_constant_[id] ? &constants_[id] : &values[id]);
      for (int id : s.outputs) pout.push_back(id < 0 ? nullptr : &values[id]);
      profiler->on_step(size_t(&s - steps_.data()), step_begin, step_end, m, pin, pout);
    }
    if (observer)
      for (int id : s.outputs)
        if (id >= 0 && values[id].dtype() == DType::kFloat32 && !values[id].on_device())
          observer->on_value(value_names_[id], values[id]);
    for (int id : s.release) values[id] = Tensor();
  }

  if (gpu) {
    // Everything queued must be done before host memory it reads or writes is handed out or reused, and before the
    // device blocks go back to the pool; a failure here is the run's failure.
    Status st = gpu->synchronize();
    if (status.ok() && !st.ok()) status = st;
  }
  if (status.ok()) {
    std::lock_guard<std::mutex> lk(macs_mu_);
    macs_total_ = macs_total;
    macs_int8_ = macs_int8;
  }
  if (status.ok()) {
    outputs->clear();
    for (int id : output_ids_) {
      const Tensor& v = is_constant_[id] ? constants_[id] : values[id];
      if (v.buffer() && v.buffer()->self_owned() && !is_constant_[id] && v.byte_offset() == 0) {
        outputs->push_back(v);
        continue;
      }
      // A view of an input, a constant or arena memory: give the caller its own copy.
      Tensor copy;
      status = Tensor::create(v.dtype(), v.dims(), &copy);
      if (!status.ok()) break;
      if (v.nbytes()) std::memcpy(copy.raw(), v.raw(), v.nbytes());
      outputs->push_back(std::move(copy));
    }
  }
  values.clear();  // returns every lent buffer to the arena before the arena goes back
  timer.release();
  {
    std::lock_guard<std::mutex> lk(arena_mu_);
    idle_arenas_.push_back(std::move(arena));
    if (gpu) idle_cuda_.push_back(std::move(gpu));
  }
  return status;
}

std::vector<StepSummary> Engine::step_summaries() const {
  std::vector<StepSummary> out;
  for (const Step& s : steps_) out.push_back({s.node.name, s.node.op_type, s.kernel_name, s.precision, s.device});
  return out;
}

}  // namespace int8rt
