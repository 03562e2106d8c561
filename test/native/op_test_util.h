// Runs one operator straight through the kernel registry, for C++ operator tests.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/op_kernel.h"
#include "core/thread_pool.h"

namespace int8rt {
namespace testing {

template <typename T>
inline Tensor make_tensor(const Dims& dims, const std::vector<T>& values) {
  Tensor t;
  Status st = Tensor::create(DTypeOf<T>::value, dims, &t);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ((int64_t)values.size(), t.numel());
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
  return t;
}

template <typename T>
inline std::vector<T> values_of(const Tensor& t) {
  std::vector<T> v(size_t(t.numel()));
  if (!v.empty()) std::memcpy(v.data(), t.raw(), v.size() * sizeof(T));
  return v;
}

class SimpleOpContext : public OpContext {
 public:
  SimpleOpContext(const NodeDef& node, std::vector<const Tensor*> inputs, ThreadPool* pool)
      : node_(node), inputs_(std::move(inputs)), outputs_(node.outputs.size()), pool_(pool) {}
  const NodeDef& node() const override { return node_; }
  size_t num_inputs() const override { return node_.inputs.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return node_.outputs.size(); }
  bool output_used(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  Status allocate_output(size_t i, DType dtype, const Dims& dims, Tensor** out) override {
    INT8RT_RETURN_IF_ERROR(Tensor::create(dtype, dims, &outputs_[i]));
    *out = &outputs_[i];
    return Status::OK();
  }
  void set_output(size_t i, const Tensor& t) override { outputs_[i] = t; }
  Status scratch(size_t bytes, void** out) override {
    scratch_.push_back(Buffer::allocate(bytes));
    *out = scratch_.back()->data();
    return Status::OK();
  }
  ThreadPool* pool() const override { return pool_; }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  const NodeDef& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  std::vector<std::shared_ptr<Buffer>> scratch_;
  ThreadPool* pool_;
};

// Creates the `precision` kernel for `node` (inputs flagged in `constant` are passed to the factory as constants) and
// runs it.
inline Status run_op_at(Precision precision, const NodeDef& node, int opset, const std::vector<Tensor>& inputs,
                        std::vector<Tensor>* outputs, const std::vector<bool>& constant = {}, int threads = 2) {
  std::string why;
  const KernelDef* def = kernel_registry().find(node.op_type, node.domain, opset, Device::kCpu, precision, &why);
  if (!def) return Status(ErrorCode::kUnsupportedOp, why);
  std::vector<const Tensor*> consts(node.inputs.size(), nullptr), ins(node.inputs.size(), nullptr);
  for (size_t i = 0; i < inputs.size() && i < node.inputs.size(); i++) {
    if (node.inputs[i].empty()) continue;
    ins[i] = &inputs[i];
    if (i < constant.size() && constant[i]) consts[i] = &inputs[i];
  }
  KernelInfo info(node, opset, consts);
  std::unique_ptr<OpKernel> kernel;
  INT8RT_RETURN_IF_ERROR(def->factory(info, &kernel));
  ThreadPool pool(threads);
  SimpleOpContext ctx(node, ins, &pool);
  INT8RT_RETURN_IF_ERROR(kernel->compute(ctx));
  *outputs = ctx.outputs();
  return Status::OK();
}

// The fp32 kernel of `node`, as above.
inline Status run_op(const NodeDef& node, int opset, const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs,
                     const std::vector<bool>& constant = {}, int threads = 2) {
  return run_op_at(Precision::kFp32, node, opset, inputs, outputs, constant, threads);
}

inline NodeDef make_node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  NodeDef n;
  n.op_type = op;
  n.name = op + "_test";
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

}  // namespace testing
}  // namespace int8rt
