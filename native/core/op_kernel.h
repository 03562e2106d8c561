// The contract between the executor and every operator implementation.
//
// At engine build the executor asks the registry for a KernelDef that matches a node (op, domain, opset, device,
// precision) and calls its factory once with a KernelInfo: attributes are parsed and constant inputs (weights) can be
// packed there. At run time OpKernel::compute is called with an OpContext for each run; compute must be const and
// thread-safe because one kernel object serves every run in flight. Kernels decide their output shapes from the
// actual inputs (that is how symbolic dims are resolved per run) and allocate outputs through the context.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/status.h"
#include "core/tensor.h"

namespace int8rt {

class ThreadPool;
namespace cuda {
struct BuildContext;
struct ExecContext;
}  // namespace cuda

enum class Device : int { kCpu = 0, kCuda = 1 };
enum class Precision : int { kFp32 = 0, kFp16 = 1, kInt8 = 2 };
const char* device_name(Device d);        // "cpu", "cuda"
const char* precision_name(Precision p);  // "fp32", "fp16", "int8"

class KernelInfo {
 public:
  KernelInfo(const NodeDef& node, int opset, std::vector<const Tensor*> constant_inputs,
             const cuda::BuildContext* cuda = nullptr)
      : node_(node), opset_(opset), constants_(std::move(constant_inputs)), cuda_(cuda) {}
  const NodeDef& node() const { return node_; }
  int opset() const { return opset_; }  // the model's opset for the node's domain
  size_t num_inputs() const { return node_.inputs.size(); }
  bool has_input(size_t i) const { return i < node_.inputs.size() && !node_.inputs[i].empty(); }
  // The value of input i when it is known at build time (an initializer or a folded constant), else nullptr.
  const Tensor* constant_input(size_t i) const { return i < constants_.size() ? constants_[i] : nullptr; }
  // For the factories of Device::kCuda kernels: the device and the engine's weight arena (cuda/exec.h).
  const cuda::BuildContext* cuda() const { return cuda_; }

 private:
  const NodeDef& node_;
  int opset_;
  std::vector<const Tensor*> constants_;
  const cuda::BuildContext* cuda_;
};

class OpContext {
 public:
  virtual ~OpContext() = default;
  virtual const NodeDef& node() const = 0;
  virtual size_t num_inputs() const = 0;
  // Input i, or nullptr when an optional input is absent (or i is past the end).
  virtual const Tensor* input(size_t i) const = 0;
  virtual size_t num_outputs() const = 0;
  // Whether output i is consumed by anyone (optional outputs may be skipped).
  virtual bool output_used(size_t i) const = 0;
  // Allocates output i (uninitialised memory; size checked against limits). *out stays valid until compute returns.
  virtual Status allocate_output(size_t i, DType dtype, const Dims& dims, Tensor** out) = 0;
  // Sets output i to an existing tensor, for example a view of an input with other dims (Reshape, Squeeze, ...).
  virtual void set_output(size_t i, const Tensor& t) = 0;
  // Scratch memory for the duration of compute (im2col buffers, packed panels). 64-byte aligned.
  virtual Status scratch(size_t bytes, void** out) = 0;
  virtual ThreadPool* pool() const = 0;  // never null; may have 1 thread
  // For Device::kCuda kernels: the device and the run's stream and memory; allocate_output then gives device
  // memory, and the activation inputs are device tensors (constant inputs stay on the host). Null on the CPU.
  virtual const cuda::ExecContext* cuda() const { return nullptr; }
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual Status compute(OpContext& ctx) const = 0;
  // What the report shows in its `kernel` column, e.g. "conv_fp32_im2col_avx2_6x16". Default: the KernelDef name.
  virtual std::string kernel_name() const { return std::string(); }

  // Whether compute() reads the elements of input i. A kernel that turned a constant input into its own form at
  // build (packed or quantized weights, a pre-scaled bias) and never touches that input's data again returns false
  // for it. The engine then frees the constant once no other node reads it, and from then on passes compute() a
  // tensor with the constant's dtype and dims but no data (raw() == nullptr): shape and type checks keep working,
  // a read of the data crashes on the spot rather than reading freed memory. A kernel must not keep pointers into
  // a constant it says it does not read. Default: every input is read.
  virtual bool reads_input_data(size_t i) const {
    (void)i;
    return true;
  }
  // For a Device::kCuda kernel: whether input i is read on the host (a shape or axes tensor), so that the executor
  // hands it a host tensor, copying it back from the device if need be, rather than a device one. Default: no.
  virtual bool input_on_host(size_t i) const {
    (void)i;
    return false;
  }
  // Bytes of model weights the kernel holds in its own form: packed panels, quantized weights, per-channel scales,
  // biases. Engine::memory() adds them to the constants it holds itself.
  virtual size_t weight_bytes() const { return 0; }
};

// Bytes of a vector's heap block (its capacity), for OpKernel::weight_bytes.
template <typename V>
inline size_t vector_bytes(const V& v) {
  return v.capacity() * sizeof(typename V::value_type);
}

using KernelFactory = Status (*)(const KernelInfo& info, std::unique_ptr<OpKernel>* out);

// A Device::kCuda kernel's data inputs are device tensors; the kernels it registers follow the same contract as the
// CPU ones (ops/cuda/).
struct KernelDef {
  const char* op_type;
  const char* domain;      // "" for ai.onnx, "com.microsoft", "int8rt"
  int since_version;       // first opset the factory handles
  int until_version;       // last opset it handles; 0 = open ended
  Device device;
  Precision precision;
  const char* name;        // short kernel family name for reports, e.g. "conv_fp32"
  KernelFactory factory;
  // A kernel that costs about what copying its data would (views, data movement, elementwise, reductions): placed
  // on a device only when one of its activation inputs is already there, so that it never adds copies of its own.
  bool follows_input = false;
};

class KernelRegistry {
 public:
  void add(const KernelDef& def) { defs_.push_back(def); }
  // First kernel that matches, or nullptr with *why filled ("no cpu fp32 kernel for Foo (opset 13)").
  const KernelDef* find(const std::string& op_type, const std::string& domain, int opset, Device device,
                        Precision precision, std::string* why) const;
  bool knows_op(const std::string& op_type, const std::string& domain) const;
  const std::vector<KernelDef>& defs() const { return defs_; }

 private:
  std::vector<KernelDef> defs_;
};

// All CPU kernels, registered once on first use (native/ops/registry.cc).
const KernelRegistry& kernel_registry();

// Helpers shared by kernels.
Status shape_error(const NodeDef& node, const std::string& what);  // kShape, message names the node
Status dtype_error(const NodeDef& node, const std::string& what);  // kDtype
Status unsupported(const NodeDef& node, const std::string& what);  // kUnsupported

}  // namespace int8rt
