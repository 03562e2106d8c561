// Engine: a model built for execution. Build validates and sorts the graph, runs the passes (constant folding,
// BatchNormalization folding, Conv+Add+activation fusion), creates one kernel per node and computes value lifetimes.
// run() is thread-safe: any number of runs may be in flight on one engine, each with its own activation arena.
#pragma once
#include <cstdint>
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

namespace cuda {
class Device;
class WeightArena;
class RunResources;
}  // namespace cuda

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
  // Free, after build, every constant whose data no kernel reads at run time (weights the kernels packed or
  // quantized, biases they folded): OpKernel::reads_input_data. Off only to compare against (tests).
  bool release_constants = true;
  // An open CUDA device (addon/cuda.h place_engine): nodes with a CUDA kernel run there, the rest on the CPU, with
  // copies between them (see Engine). Null: everything on the CPU.
  std::shared_ptr<cuda::Device> cuda_device;
};

// What an engine holds for the model's weights, in bytes (Engine::memory()). Activations are not included: they live
// in per-run arenas and depend on the input shapes.
struct EngineMemory {
  size_t constants = 0;  // constant tensors kept for kernels that read them at run time (each buffer counted once)
  size_t packed = 0;     // weights the kernels hold in their own form (OpKernel::weight_bytes)
  size_t released = 0;   // constant bytes freed after build because no kernel reads them (not part of weights())
  size_t weights() const { return constants + packed; }
};

// Sees every float32 value a run produces (graph inputs first, then each node's outputs), on the run's thread.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void on_value(const std::string& name, const Tensor& value) = 0;
};

// Times each executed step when passed to Engine::run (engine profiling: addon/profile.cc). Normal runs pass none and
// pay one null check per step. Called on the run's thread right after a step has computed; begin/end are
// steady_clock nanoseconds around the step (context set-up, kernel, output checks); inputs/outputs are the step's
// values (null where absent), valid during the call only. Step indices are those of step_summaries().
class StepProfiler {
 public:
  virtual ~StepProfiler() = default;
  virtual void on_step(size_t step, int64_t begin_ns, int64_t end_ns, double macs,
                       const std::vector<const Tensor*>& inputs, const std::vector<const Tensor*>& outputs) = 0;
};

// What one executed step is: its node (an ONNX node, the host of a fused group, or a boundary Q/DQ the int8 planner
// inserted), op, kernel and precision.
struct StepSummary {
  std::string name, op_type, kernel;
  Precision precision = Precision::kFp32;
  Device device = Device::kCpu;
};

// One row per ONNX node of the original model.
struct NodeReport {
  std::string name, op_type, precision, device, kernel;
  std::string fused_into;  // the executed node this one was fused into ("" if it runs itself)
  std::string note;        // e.g. "folded to a constant at build", "fused into Conv 'x'"
  std::string reason;      // why it is not int8 when int8 was asked for
  std::string device_reason;  // on an engine with a CUDA device: why this node runs on the CPU
  bool boundary = false;   // a QuantizeLinear/DequantizeLinear the planner inserted (not an ONNX node), or one of a
                           // pre-quantized model's own that could not be folded (quant/qdq_import.h; `reason` says why)
  // On a node that runs in int8 with the planner's scales (quant/qnode.h): the scale of each int8 tensor it reads or
  // writes, by ONNX tensor name (constants it quantized included). The QDQ export (lib/qdq) writes these scales.
  std::vector<std::pair<std::string, float>> int8_scales;
};

class Engine {
 public:
  ~Engine();
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

  // Bytes of weights the engine holds, fixed at build.
  const EngineMemory& memory() const { return memory_; }
  // Bytes of the CUDA weight arena (0 without a CUDA device), and the number of steps that run on the device.
  size_t cuda_weight_bytes() const;
  size_t cuda_steps() const;

  // Feeds are matched by name; outputs come back in the order of outputs(), each owning its memory.
  Status run(const std::vector<std::pair<std::string, Tensor>>& feeds, std::vector<Tensor>* outputs,
             RunObserver* observer = nullptr, StepProfiler* profiler = nullptr) const;
  // The executed steps in run order (what a StepProfiler's step index refers to).
  std::vector<StepSummary> step_summaries() const;

 private:
  friend class GraphBuilder;
  // How a step moves data: an operator kernel, or one of the copies the CUDA placement inserts.
  enum class StepKind { kKernel, kToDevice, kToHost };
  struct Step {
    NodeDef node;
    std::unique_ptr<OpKernel> kernel;
    std::string kernel_name;
    std::vector<int> inputs;   // value ids, -1 for absent optional inputs
    std::vector<int> outputs;  // value ids, -1 for unused optional outputs
    std::vector<int> release;  // values whose last reader is this step
    Precision precision = Precision::kFp32;
    Device device = Device::kCpu;
    StepKind kind = StepKind::kKernel;
    std::string device_reason;  // on a CUDA engine: why this step stays on the CPU
  };
  Status place_on_cuda_copies();
  Status check_feed(const ValueInfo& info, const Tensor& t) const;
  void release_unread_constants(bool release);

  std::vector<ValueInfo> inputs_, outputs_;
  std::vector<std::string> value_names_;
  // By value id: the constant's tensor, or for a released constant (EngineOptions::release_constants) its dtype and
  // dims without data; empty when the value is not a constant. is_constant_ tells the two cases apart.
  std::vector<Tensor> constants_;
  std::vector<bool> is_constant_;
  EngineMemory memory_;
  std::vector<int> input_ids_, output_ids_;
  // CUDA: the device, and the arena of the device kernels' weights. Declared before steps_ so that the kernels
  // (which point into the arena) go first.
  std::shared_ptr<cuda::Device> cuda_device_;
  std::unique_ptr<cuda::WeightArena> cuda_weights_;
  size_t cuda_steps_ = 0;
  std::vector<Step> steps_;
  std::vector<NodeReport> report_;
  std::unique_ptr<ThreadPool> pool_;

  mutable std::mutex macs_mu_;
  mutable double macs_total_ = 0, macs_int8_ = 0;
  mutable std::mutex arena_mu_;
  mutable std::vector<std::unique_ptr<RunArena>> idle_arenas_;
  mutable std::vector<std::unique_ptr<cuda::RunResources>> idle_cuda_;  // per-run streams and device memory
};

// Upper bound for one tensor allocation: the machine's physical memory.
size_t max_allocation_bytes();

}  // namespace int8rt
