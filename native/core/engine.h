// Engine: a model built for execution. Build validates and sorts the graph, runs the passes (constant folding,
// BatchNormalization folding, Conv+Add+activation fusion), creates one kernel per node and computes value lifetimes.
// run() is thread-safe: any number of runs may be in flight on one engine, each with its own activation arena.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/arena.h"
#include "core/graph.h"
#include "core/op_kernel.h"
#include "core/thread_pool.h"
#include "quant/quantize_pass.h"

namespace int8rt {

struct EngineOptions {
  int intra_op_threads = 0;  // 0: one per hardware thread
  // Fuse Conv with its residual Add and activation. Calibration engines turn it off so that every ONNX tensor an
  // int8 plan may need is observable.
  bool fuse_epilogues = true;
  // kFp32, or kInt8 for static int8 from calibrated ranges (quant.amax) with per-node overrides (quant.node_precision).
  Precision precision = Precision::kFp32;
  // Precision 'fp16': the constant weights of float Conv/ConvTranspose/Gemm/MatMul nodes are stored as binary16
  // (half the memory) and computed in float32; those nodes report precision "fp16". Depthwise Conv keeps float32.
  bool fp16_weights = false;
  // With precision kInt8: dynamic int8 instead of static (plan_dynamic_int8): Conv/Gemm/MatMul quantize their float
  // input per run from its absmax, everything else runs fp32; quant.amax is not needed (quant.node_precision is
  // obeyed).
  bool dynamic_int8 = false;
  QuantizeOptions quant;
};

// Sees every float32 value a run produces (graph inputs first, then each node's outputs), on the run's thread.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void on_value(const std::string& name, const Tensor& value) = 0;
};

// One row per ONNX node of the original model.
struct NodeReport {
  std::string name, op_type, precision, device, kernel;
  std::string fused_into;  // the executed node this one was fused into ("" if it runs itself)
  std::string note;        // e.g. "folded to a constant at build", "fused into Conv 'x'"
  std::string reason;      // why it is not int8 when int8 was asked for
  bool boundary = false;   // a QuantizeLinear/DequantizeLinear the planner inserted (not an ONNX node)
};

class Engine {
 public:
  static Status build(ModelDef model, const EngineOptions& options, std::shared_ptr<Engine>* out);

  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }
  int intra_op_threads() const { return pool_->num_threads(); }
  const std::vector<NodeReport>& report() const { return report_; }
  // Multiply-accumulates of Conv/ConvTranspose/Gemm/MatMul in the last completed run, in total and in int8
  // (0, 0 before any run). Shapes can change per run, so this is measured, not predicted.
  void macs(double* total, double* int8) const {
    std::lock_guard<std::mutex> lk(macs_mu_);
    *total = macs_total_;
    *int8 = macs_int8_;
  }

  // Feeds are matched by name; outputs come back in the order of outputs(), each owning its memory.
  Status run(const std::vector<std::pair<std::string, Tensor>>& feeds, std::vector<Tensor>* outputs,
             RunObserver* observer = nullptr) const;

 private:
  friend class GraphBuilder;
  struct Step {
    NodeDef node;
    std::unique_ptr<OpKernel> kernel;
    std::string kernel_name;
    std::vector<int> inputs;   // value ids, -1 for absent optional inputs
    std::vector<int> outputs;  // value ids, -1 for unused optional outputs
    std::vector<int> release;  // values whose last reader is this step
    Precision precision = Precision::kFp32;
  };
  Status check_feed(const ValueInfo& info, const Tensor& t) const;

  std::vector<ValueInfo> inputs_, outputs_;
  std::vector<std::string> value_names_;
  std::vector<Tensor> constants_;       // by value id; empty when not constant
  std::vector<int> input_ids_, output_ids_;
  std::vector<Step> steps_;
  std::vector<NodeReport> report_;
  std::unique_ptr<ThreadPool> pool_;

  mutable std::mutex macs_mu_;
  mutable double macs_total_ = 0, macs_int8_ = 0;
  mutable std::mutex arena_mu_;
  mutable std::vector<std::unique_ptr<RunArena>> idle_arenas_;
};

// Upper bound for one tensor allocation: the machine's physical memory.
size_t max_allocation_bytes();

}  // namespace int8rt
