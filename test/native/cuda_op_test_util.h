// Running one operator's CUDA kernel in a test the way core/engine.cc runs a CUDA step, for the operator suites
// (cuda_gather_test.cc, cuda_float_test.cc): the registry's Device::kCuda kernel built with a fresh weight arena
// (committed, as at the end of an engine build), the activation inputs uploaded, outputs and scratch taken from the
// run's device pool, the outputs downloaded. Every output byte starts as a sentinel, so that an element a kernel
// fails to write shows. The fixture skips without a device; built into int8rt_cuda_emulated_tests (CMakeLists.txt) it
// points $INT8RT_LIBCUDA at the driver emulator first and fails instead of skipping when that does not open.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/op_kernel.h"
#include "core/thread_pool.h"
#include "cuda/driver.h"
#include "cuda/exec.h"
#include "op_test_util.h"

namespace int8rt {
namespace cuda {

class DeviceOpContext final : public OpContext {
 public:
  DeviceOpContext(const NodeDef& node, std::vector<const Tensor*> inputs, const ExecContext* ex, ThreadPool* pool)
      : node_(node), inputs_(std::move(inputs)), outputs_(node.outputs.size()), ex_(ex), pool_(pool) {}
  const NodeDef& node() const override { return node_; }
  size_t num_inputs() const override { return node_.inputs.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return node_.outputs.size(); }
  bool output_used(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  Status allocate_output(size_t i, DType dtype, const Dims& dims, Tensor** out) override {
    std::shared_ptr<Buffer> b;
    const size_t bytes = size_t(dims_numel(dims)) * dtype_size(dtype);
    INT8RT_RETURN_IF_ERROR(ex_->run->take(std::max<size_t>(1, bytes), &b));
    outputs_[i] = Tensor(dtype, dims, std::move(b));
    *out = &outputs_[i];
    sentinels_.emplace_back(bytes, static_cast<unsigned char>(0x5A));
    if (bytes)
      INT8RT_RETURN_IF_ERROR(
          ex_->device->upload(outputs_[i].device_address(), sentinels_.back().data(), bytes, ex_->run->stream()));
    return Status::OK();
  }
  void set_output(size_t i, const Tensor& t) override { outputs_[i] = t; }
  Status scratch(size_t bytes, void** out) override {
    std::shared_ptr<Buffer> b;
    INT8RT_RETURN_IF_ERROR(ex_->run->take(bytes, &b));
    *out = b->data();
    scratch_.push_back(std::move(b));
    return Status::OK();
  }
  ThreadPool* pool() const override { return pool_; }
  const ExecContext* cuda() const override { return ex_; }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  const NodeDef& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  std::vector<std::shared_ptr<Buffer>> scratch_;
  std::deque<std::vector<unsigned char>> sentinels_;  // upload sources, alive until the run synchronizes
  const ExecContext* ex_;
  ThreadPool* pool_;
};

inline Attribute int_attr(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInt;
  a.i = v;
  return a;
}
inline Attribute ints_attr(const std::string& name, const std::vector<int64_t>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = v;
  return a;
}
inline Attribute float_attr(const std::string& name, float v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kFloat;
  a.f = v;
  return a;
}
inline Attribute floats_attr(const std::string& name, const std::vector<float>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kFloats;
  a.floats = v;
  return a;
}
inline Attribute string_attr(const std::string& name, const std::string& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kString;
  a.s = v;
  return a;
}

inline Dims random_dims(std::mt19937& rng, int rank, int64_t max_dim) {
  Dims d(static_cast<size_t>(rank));
  for (auto& v : d) v = std::uniform_int_distribution<int64_t>(1, max_dim)(rng);
  return d;
}

class CudaOpTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef INT8RT_CUDA_EMULATOR
    setenv("INT8RT_LIBCUDA", INT8RT_FAKE_LIBCUDA, 1);
    ASSERT_TRUE(availability().available) << "the CUDA emulator did not open: " << availability().reason;
#endif
    const Availability& av = availability();
    if (!av.available) GTEST_SKIP() << "CUDA unavailable: " << av.reason;
    Status st = Device::open(0, &dev_);
    ASSERT_TRUE(st.ok()) << st.message();
    st = RunResources::create(dev_, &run_);
    ASSERT_TRUE(st.ok()) << st.message();
    ex_.device = dev_.get();
    ex_.run = run_.get();
  }
  void TearDown() override {
    if (run_) EXPECT_TRUE(run_->synchronize().ok());
    run_.reset();
    arena_.reset();
  }

  // Builds the CUDA kernel of `node` at `prec`: inputs flagged in `constant` go to the factory as constants, the
  // others are declared with their dtype (kUndefined for all with `unknown_types`).
  Status build(Precision prec, const NodeDef& node, int opset, const std::vector<Tensor>& inputs,
               const std::vector<bool>& constant, std::unique_ptr<OpKernel>* kernel, bool unknown_types = false) {
    std::string why;
    const KernelDef* def = kernel_registry().find(node.op_type, node.domain, opset, int8rt::Device::kCuda, prec, &why);
    if (!def) return Status(ErrorCode::kUnsupportedOp, why);
    std::vector<const Tensor*> consts(node.inputs.size(), nullptr);
    arena_.reset(new WeightArena(dev_));
    bc_ = BuildContext();
    bc_.device = dev_;
    bc_.weights = arena_.get();
    bc_.gemm_path = default_qgemm_path(dev_->info());
    bc_.input_dtypes.assign(node.inputs.size(), DType::kUndefined);
    for (size_t i = 0; i < inputs.size() && i < node.inputs.size(); i++) {
      if (node.inputs[i].empty()) continue;
      if (i < constant.size() && constant[i]) consts[i] = &inputs[i];
      if (!unknown_types) bc_.input_dtypes[i] = inputs[i].dtype();
    }
    KernelInfo info(node, opset, consts, &bc_);
    INT8RT_RETURN_IF_ERROR(def->factory(info, kernel));
    return arena_->commit();
  }

  // Runs `node` through its CUDA kernel; outputs come back as host tensors.
  Status run_cuda(Precision prec, const NodeDef& node, int opset, const std::vector<Tensor>& inputs,
                  const std::vector<bool>& constant, std::vector<Tensor>* outputs) {
    std::unique_ptr<OpKernel> kernel;
    INT8RT_RETURN_IF_ERROR(build(prec, node, opset, inputs, constant, &kernel));
    std::vector<const Tensor*> ins(node.inputs.size(), nullptr);
    std::vector<Tensor> dev(inputs.size());
    for (size_t i = 0; i < inputs.size() && i < node.inputs.size(); i++) {
      if (node.inputs[i].empty()) continue;
      if (i < constant.size() && constant[i]) {
        ins[i] = &inputs[i];
        continue;
      }
      std::shared_ptr<Buffer> b;
      INT8RT_RETURN_IF_ERROR(run_->take(std::max<size_t>(1, inputs[i].nbytes()), &b));
      dev[i] = Tensor(inputs[i].dtype(), inputs[i].dims(), std::move(b));
      if (inputs[i].nbytes())
        INT8RT_RETURN_IF_ERROR(
            dev_->upload(dev[i].device_address(), inputs[i].raw(), inputs[i].nbytes(), run_->stream()));
      ins[i] = &dev[i];
    }
    ThreadPool pool(1);
    DeviceOpContext ctx(node, ins, &ex_, &pool);
    INT8RT_RETURN_IF_ERROR(kernel->compute(ctx));
    outputs->clear();
    for (const Tensor& y : ctx.outputs()) {
      Tensor h;
      INT8RT_RETURN_IF_ERROR(Tensor::create(y.dtype(), y.dims(), &h));
      if (h.nbytes()) {
        if (!y.on_device()) return Status(ErrorCode::kInternal, "an output is not in device memory");
        INT8RT_RETURN_IF_ERROR(dev_->download(h.raw(), y.device_address(), h.nbytes(), run_->stream()));
      }
      outputs->push_back(h);
    }
    return run_->synchronize();
  }

  std::shared_ptr<Device> dev_;
  std::unique_ptr<RunResources> run_;
  std::unique_ptr<WeightArena> arena_;
  BuildContext bc_;
  ExecContext ex_;
};

}  // namespace cuda
}  // namespace int8rt
